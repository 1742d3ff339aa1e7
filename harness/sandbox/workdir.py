"""What the candidate is handed and leaves behind: its environment and the files of its
working directory, which a previous candidate may have booby-trapped (symlinks, FIFOs)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

from harness.redact import EXTRA_ENV as SECRET_ENV_LIST
from harness.redact import is_secret_name


def scrubbed_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a candidate: no secret-looking variables, deterministic, one BLAS thread.

    Single-threaded BLAS matters beyond speed: OpenBLAS reserves address space per thread, which
    otherwise breaks ``import numpy`` under RLIMIT_AS.
    """
    source = os.environ if base is None else base
    env = {
        k: v for k, v in source.items() if k != SECRET_ENV_LIST and not is_secret_name(k, source)
    }
    env.update(
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONHASHSEED="0",
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    return env


def remove_path(path: Path) -> None:
    """Delete whatever a candidate may have left at ``path`` (file, symlink or directory)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def real_dir(path: Path) -> Path:
    """A real directory at ``path``, not a symlink or file an earlier candidate put there."""
    if path.is_symlink() or not path.is_dir():
        remove_path(path)
        path.mkdir()
    return path


@contextlib.contextmanager
def fresh_file(path: Path) -> Iterator[IO[bytes]]:
    """Create ``path`` anew: never write through a symlink or file an earlier candidate left."""
    remove_path(path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "r+b") as f:
        yield f


def read_tail(f: IO[bytes], cap: int) -> str:
    """The last ``cap`` bytes of a child's output file, marked when truncated."""
    size = f.seek(0, os.SEEK_END)
    skipped = max(0, size - cap)
    f.seek(skipped)
    text = f.read(cap).decode("utf-8", "replace")
    return f"[... {skipped} bytes truncated ...]\n{text}" if skipped else text
