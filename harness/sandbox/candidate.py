"""The sandbox's entry point: :func:`run_candidate`.

A one-file program is written to ``<workdir>/candidate.py`` and its ``entry`` function is
called. A multi-file program (:mod:`harness.tree`) is written under ``<workdir>/src/``, which
goes first on the candidate's ``sys.path``, and ``entry`` names ``module:function`` (e.g.
``"pipeline:run"`` for ``src/pipeline.py``, ``"pkg.main:run"`` for ``src/pkg/main.py``).
A one-file program given a ``module:function`` entry is that module's file alone. The
working directory is ``<workdir>`` either way.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from harness.sandbox._runner import jsonable
from harness.sandbox.cgroup import Cgroup, warn_uncapped
from harness.sandbox.limits import Limits
from harness.sandbox.mounts import RUNNER
from harness.sandbox.policy import resolve
from harness.sandbox.process import RUN_MARK, Start, execute
from harness.sandbox.result import (
    CandidateRun,
    apply_payload,
    classify_death,
    read_result,
    redact_run,
)
from harness.sandbox.workdir import fresh_file, read_tail, real_dir, remove_path, scrubbed_env
from harness.tree import Tree, TreeError, is_tree

#: Where a multi-file program's tree is written, under the work dir.
TREE_DIR = "src"


def split_entry(entry: str) -> tuple[str | None, str]:
    """``"pkg.mod:fn"`` as ``("pkg.mod", "fn")``; a bare ``"fn"`` as ``(None, "fn")``."""
    module, colon, function = entry.rpartition(":")
    return (module if colon else None), function


def module_files(module: str) -> tuple[str, str]:
    """The tree paths that may hold ``module``: ``a/b.py`` or ``a/b/__init__.py``."""
    base = module.replace(".", "/")
    return f"{base}.py", f"{base}/__init__.py"


def _tree_of(program: str, module: str | None) -> Tree | tuple[str, str]:
    """The tree to run, or why it cannot: (error class, message for the researcher)."""
    try:
        tree = Tree.parse(program, single=module_files(module)[0] if module else "candidate.py")
    except TreeError as exc:
        return "syntax", f"the program's file tree is malformed: {exc}"
    folders = {p.rsplit("/", depth)[0] for p in tree for depth in range(1, p.count("/") + 1)}
    clash = sorted(folders.intersection(tree))
    if clash:
        message = f"the program's file tree is malformed: {clash[0]!r} is a file and a folder"
        return "syntax", message
    if module is None:
        message = "a multi-file program needs an entry naming its module, 'module:function'"
        return "missing_entry", message
    if not any(path in tree for path in module_files(module)):
        wanted = " or ".join(module_files(module))
        message = f"the program has no module {module!r} ({wanted}); its files: {', '.join(tree)}"
        return "missing_entry", message
    return tree


def write_tree(tree: Tree, workdir: Path) -> Path:
    """Write ``tree`` under a fresh ``<workdir>/src`` (whatever an earlier candidate left
    there, a symlink included, is removed first, so no file lands outside the work dir).
    The tree's paths are checked (:func:`harness.tree.check_path`); text that is not valid
    Unicode is written with replacement characters, as a one-file program is."""
    root = workdir / TREE_DIR
    remove_path(root)
    root.mkdir()
    for path, text in tree.files:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with fresh_file(target) as f:
            f.write(text.encode("utf-8", "replace"))
    return root


def run_candidate(
    program: str,
    entry: str,
    *,
    args: tuple = (),
    kwargs: dict[str, Any] | None = None,
    limits: Limits,
    workdir: Path,
) -> CandidateRun:
    """Run ``entry(*args, **kwargs)`` from ``program`` in a limited child (one run per workdir
    at a time); ``entry`` is ``module:function`` for a multi-file program (see the module
    docstring). Candidate failures come back as ``ok=False``; they never raise."""
    isolated, bwrap = resolve(limits.sandbox)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    module, function = split_entry(entry)
    tree = _tree_of(program, module) if module or is_tree(program) else None
    if isinstance(tree, tuple):
        error_class, error = tree
        return redact_run(
            CandidateRun(ok=False, error=error, error_class=error_class,
                         sandboxed=isolated is not None, isolation=isolated or "none")
        )  # fmt: skip
    token = secrets.token_hex(16)
    env = scrubbed_env()
    env["HOME"] = str(real_dir(workdir / "home"))
    env["TMPDIR"] = str(real_dir(workdir / "tmp"))
    if isolated is None:
        env[RUN_MARK] = token
    request = workdir / f".input-{token}.json"
    result = workdir / f".result-{token}.json"
    call = {"entry": function, "module": module, "args": list(args), "kwargs": kwargs or {}}
    request_text = json.dumps(call, default=jsonable)
    if tree is None:
        candidate = workdir / "candidate.py"
        with fresh_file(candidate) as f:
            f.write(program.encode("utf-8", "replace"))
    else:
        candidate = write_tree(tree, workdir)
    with fresh_file(request) as f:
        f.write(request_text.encode())
    cmd = [sys.executable, "-I", str(RUNNER), str(candidate), str(request), str(result)]
    cgroup = Cgroup.create(limits.max_processes)
    if cgroup is None and os.getuid() == 0:
        warn_uncapped()
    try:
        with fresh_file(workdir / "stdout.txt") as out, fresh_file(workdir / "stderr.txt") as err:
            started = Start(cmd, isolated, bwrap, workdir, env, token, limits.hidden)
            returncode, timed_out, seconds = execute(started, out, err, limits, cgroup)
            stdout = read_tail(out, limits.max_output_bytes)
            stderr = read_tail(err, limits.max_output_bytes)
        capped = cgroup is not None and cgroup.limit_hit()
    finally:
        if cgroup is not None:
            cgroup.remove()
    run = CandidateRun(
        ok=False,
        stdout=stdout,
        stderr=stderr,
        seconds=seconds,
        sandboxed=isolated is not None,
        returncode=returncode,
        isolation=isolated or "none",
    )
    payload = read_result(result, limits.file_size_mb << 20)
    for path in (request, result):
        remove_path(path)
    if timed_out:
        run.error_class, run.error = "timeout", f"timed out after {limits.timeout_s:g} s"
    elif payload is not None and payload["ok"] == (returncode == 0):
        apply_payload(run, payload, limits)
    else:
        run.error_class, run.error = classify_death(
            returncode, isolated is not None, stderr, limits
        )
    if capped and not run.ok:  # whatever it died of, running out of processes came first
        run.error_class, run.error = (
            "processes",
            f"process limit exceeded ({limits.max_processes} processes and threads); "
            f"then {run.error}",
        )
    return redact_run(run)
