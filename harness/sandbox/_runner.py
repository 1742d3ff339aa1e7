"""Child-side runner: load an untrusted candidate module, call its entry, report the outcome.

Started by ``harness.sandbox`` as ``python -I _runner.py CANDIDATE INPUT RESULT``, where
CANDIDATE is the one-file program, or for a multi-file program the directory its tree was
written to: that directory goes first on ``sys.path`` and INPUT's ``module`` names the module
whose ``entry`` is called (tracebacks then name the files by their paths in the tree). It is a
standalone stdlib-only script (never imports ``harness``) so that nothing of the evaluator is
loaded into the untrusted process. The outcome is one JSON object written to RESULT, replacing
anything the candidate put there:

* ``{"ok": true, "value": ...}`` and exit code 0, or
* ``{"ok": false, "kind": ..., "type": ..., "message": ..., "traceback": ...}`` and exit code 1,
  where kind is one of exception, syntax, missing_entry, unserializable, memory, file_size.

The candidate runs in this very process and can forge all of this; the evaluator treats the
result as untrusted data either way.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import sys
import traceback
from types import ModuleType, TracebackType
from typing import Any

MAX_MESSAGE_CHARS = 2000


def jsonable(obj: Any) -> Any:
    """json ``default`` hook: numpy arrays/scalars (and look-alikes) via tolist()/item()."""
    for method in ("tolist", "item"):
        convert = getattr(obj, method, None)
        if callable(convert):
            return convert()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _is_candidate(filename: str, candidate: str) -> bool:
    """Whether a frame's file is the candidate's: the file itself, or one under its tree."""
    return filename == candidate or filename.startswith(candidate + os.sep)


def _kind(exc: BaseException, candidate: str) -> str:
    if isinstance(exc, SyntaxError) and _is_candidate(exc.filename or "", candidate):
        return "syntax"  # a module of the tree imported late, from inside the entry
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return "file_size"
    return "exception"


def _candidate_frames(exc: BaseException, candidate: str) -> TracebackType | None:
    """Drop the runner/importlib frames in front of the first candidate frame."""
    tb = exc.__traceback__
    while tb is not None and not _is_candidate(tb.tb_frame.f_code.co_filename, candidate):
        tb = tb.tb_next
    return tb or exc.__traceback__


def _failure(kind: str, exc: BaseException, candidate: str) -> str:
    if isinstance(exc, SyntaxError):
        lines = traceback.format_exception_only(type(exc), exc)
    else:
        lines = traceback.format_exception(type(exc), exc, _candidate_frames(exc, candidate))
    text, message = "".join(lines), str(exc)
    if os.path.isdir(candidate):  # a tree: its files by their paths in the tree
        text, message = (s.replace(candidate + os.sep, "") for s in (text, message))
    return _error(kind, type(exc).__name__, message, text)


def _error(kind: str, exc_type: str, message: str, tb: str = "") -> str:
    return json.dumps(
        {
            "ok": False,
            "kind": kind,
            "type": exc_type,
            "message": message[:MAX_MESSAGE_CHARS],
            "traceback": tb,
        }
    )


def _load(candidate: str, name: str | None) -> ModuleType:
    if name is not None:
        sys.path.insert(0, candidate)
        return importlib.import_module(name)
    spec = importlib.util.spec_from_file_location("candidate", candidate)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {candidate}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["candidate"] = module
    spec.loader.exec_module(module)
    return module


def _defined_functions(module: ModuleType) -> list[str]:
    return [
        name
        for name, obj in vars(module).items()
        if callable(obj)
        and not name.startswith("_")
        and getattr(obj, "__module__", "") == module.__name__
    ]


def run(
    candidate: str, entry: str, args: list[Any], kwargs: dict[str, Any], module_name: str | None
) -> tuple[bool, str]:
    """Import the candidate (or its tree's ``module_name``), call ``entry``; return
    (succeeded, outcome as a JSON document)."""
    try:
        module = _load(candidate, module_name)
    except SyntaxError as exc:
        return False, _failure("syntax", exc, candidate)
    except BaseException as exc:  # everything the candidate raises is reported, even SystemExit
        return False, _failure(_kind(exc, candidate), exc, candidate)
    fn = getattr(module, entry, None)
    if not callable(fn):
        found = ", ".join(_defined_functions(module)[:20]) or "none"
        where = "candidate.py" if module_name is None else f"module {module_name!r}"
        message = f"{where} defines no function {entry!r} (functions found: {found})"
        return False, _error("missing_entry", "AttributeError", message)
    try:
        value = fn(*args, **kwargs)
    except BaseException as exc:
        return False, _failure(_kind(exc, candidate), exc, candidate)
    try:
        return True, json.dumps({"ok": True, "value": value}, default=jsonable)
    except MemoryError as exc:
        return False, _failure("memory", exc, candidate)
    except Exception as exc:  # TypeError, ValueError (circular reference), RecursionError, ...
        return False, _failure("unserializable", exc, candidate)


def write_result(path: str, text: str) -> None:
    """Replace whatever sits at ``path`` (the candidate may have planted a file or symlink)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def main(argv: list[str]) -> int:
    candidate, input_path, result_path = argv[1:4]
    sys.argv = [candidate]  # keep the result path out of the candidate's easy reach
    sys.dont_write_bytecode = True
    with open(input_path, encoding="utf-8") as f:
        request = json.load(f)
    ok, text = run(
        candidate, request["entry"], request["args"], request["kwargs"], request.get("module")
    )
    try:
        write_result(result_path, text)
    except OSError as exc:
        if exc.errno != errno.EFBIG:
            raise
        ok = False
        text = _error("file_size", "OSError", "the result exceeds the file size limit")
        write_result(result_path, text)
    return 0 if ok else 1


if __name__ == "__main__":
    code = main(sys.argv)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # e.g. EFBIG on a flooded stdout: the result is already written
            pass
    # Skip interpreter shutdown: candidate atexit hooks and non-daemon threads must not run/wait.
    os._exit(code)
