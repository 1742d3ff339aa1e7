"""sqlite-utils without pandas and numpy: the harness never asks it to map their types.

``sqlite_utils.db`` imports pandas and numpy whenever they are installed (numpy always is;
a task plugin such as biomed installs pandas), only to map ``pd.Timestamp`` and numpy's
scalar types to column types when it creates a table or a column from values. The harness
creates its tables from declared Python types (:mod:`harness.db.schema`) and never lets
sqlite-utils infer one, yet the two imports were most of what reading a store cost: pandas
alone was 28 % of a command's import CPU and half its RSS, numpy a third of ``harness
status``'s CPU. Importing this module (``harness/__init__`` does, first) hides both while
``sqlite_utils.db`` runs, however and wherever sqlite-utils is first imported (twenty
modules import it); code that imports them itself gets them as usual, and one already
loaded is not hidden.
"""

from __future__ import annotations

import importlib.machinery
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

MODULE = "sqlite_utils.db"
HIDDEN = ("pandas", "numpy")


class _Finder:
    """A meta path finder for :data:`MODULE` alone, whose loader runs it with
    :data:`HIDDEN` made unimportable (a ``None`` in ``sys.modules``)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            hidden = [name for name in HIDDEN if name not in sys.modules]
            for name in hidden:
                sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError
            try:
                run(module)
            finally:
                for name in hidden:
                    del sys.modules[name]

        loader.exec_module = exec_module  # type: ignore[method-assign]  # this spec's own loader
        return spec


def install() -> None:
    """Hide pandas and numpy from sqlite-utils' first import in this process (once)."""
    if MODULE not in sys.modules and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


install()
