"""The sandbox's entry point: :func:`run_candidate`."""

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
    at a time). Candidate failures come back as ``ok=False``; they never raise."""
    isolated, bwrap = resolve(limits.sandbox)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    env = scrubbed_env()
    env["HOME"] = str(real_dir(workdir / "home"))
    env["TMPDIR"] = str(real_dir(workdir / "tmp"))
    if isolated is None:
        env[RUN_MARK] = token
    candidate = workdir / "candidate.py"
    request = workdir / f".input-{token}.json"
    result = workdir / f".result-{token}.json"
    call = {"entry": entry, "args": list(args), "kwargs": kwargs or {}}
    request_text = json.dumps(call, default=jsonable)
    with fresh_file(candidate) as f:
        f.write(program.encode("utf-8", "replace"))
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
