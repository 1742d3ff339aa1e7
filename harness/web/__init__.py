"""The web view of run stores: ``harness serve`` (a live, read-only Starlette app) and
``harness report`` (the same pages in one self-contained HTML file).

:mod:`.stores` finds and opens the stores, :mod:`.queries` reads what the pages show,
:mod:`.layout` places the tree, :mod:`.pages` renders the templates, :mod:`.app` serves
them and :mod:`.report` writes them into one file. Nothing here writes to a store.
"""
