"""sqlite-utils without pandas: the store never holds a pandas value.

``sqlite_utils.db`` imports pandas whenever it is installed (a task plugin such as biomed
installs it), only to map ``pd.Timestamp`` to a TEXT column. For the harness that import
was 28 % of a command's import CPU and half its RSS, paid by every command and every
evaluation worker. Importing this module (``harness/__init__`` does, first) hides pandas
while ``sqlite_utils.db`` runs, however and wherever sqlite-utils is first imported (twenty
modules import it); code that imports pandas itself gets it as usual, and when pandas is
already loaded nothing changes.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

MODULE = "sqlite_utils.db"


class _Finder(importlib.abc.MetaPathFinder):
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
            if "pandas" in sys.modules:
                run(module)
                return
            sys.modules["pandas"] = None  # type: ignore[assignment]  # import raises ImportError
            try:
                run(module)
            finally:
                del sys.modules["pandas"]

        loader.exec_module = exec_module  # type: ignore[method-assign]  # this spec's own loader
        return spec


def install() -> None:
    """Hide pandas from sqlite-utils' first import in this process (once)."""
    if MODULE not in sys.modules and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


install()
