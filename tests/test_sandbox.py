"""Tests for harness.sandbox: real child processes, real limits, real bubblewrap where it works,
and the kernel namespaces of ``_ns_launcher.py`` where they work."""

from __future__ import annotations

import json
import logging
import os
import resource
import secrets
import shutil
import socket
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from harness import sandbox
from harness.sandbox import CandidateRun, Limits, mounts, policy, run_candidate, scrubbed_env

pytestmark = pytest.mark.isolation  # make test-sandbox runs it without bubblewrap too

FAST = Limits(timeout_s=20)
BWRAP_OK = sandbox.bwrap_available()
NS_OK = sandbox.namespace_available()
needs_bwrap = pytest.mark.skipif(not BWRAP_OK, reason="bubblewrap missing or its probe failed")
needs_ns = pytest.mark.skipif(not NS_OK, reason="user namespaces unusable here")
ISOLATED = [pytest.param("bwrap", marks=needs_bwrap), pytest.param("namespace", marks=needs_ns)]


@pytest.fixture(params=["none", *ISOLATED])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test without isolation, inside bubblewrap, and inside the namespace launcher."""
    monkeypatch.setenv("HARNESS_SANDBOX", request.param)
    return request.param


@pytest.fixture(params=ISOLATED)
def isolated(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test in each isolating mode."""
    monkeypatch.setenv("HARNESS_SANDBOX", request.param)
    return request.param


def run(program: str, tmp_path: Path, entry: str = "main", **kw: Any) -> CandidateRun:
    limits = kw.pop("limits", FAST)
    return run_candidate(
        textwrap.dedent(program), entry, limits=limits, workdir=tmp_path / "work", **kw
    )


def marker() -> str:
    """A unique, valid `sleep` argument to find the candidate's processes by their cmdline."""
    return f"{10**6 + secrets.randbelow(10**6)}.{secrets.randbelow(10**6)}"


def processes_with(text: str) -> list[int]:
    """Live (non-zombie: those have an empty cmdline) processes whose argv contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmdline:
                found.append(int(entry.name))
    return found


def eventually(check: Callable[[], bool], grace_s: float = 2.0) -> bool:
    """Poll ``check``: without bwrap, SIGKILL to the process group is asynchronous, so members
    may take a few ms to die after run_candidate returns. Under bwrap it waits for the pid
    namespace to be torn down, so the tests there use no grace at all."""
    deadline = time.monotonic() + grace_s
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_returns_value_numpy_and_kwargs(mode: str, tmp_path: Path) -> None:
    r = run(
        """
        import numpy as np
        import scipy.optimize

        def main(n, scale=1.0):
            x = scipy.optimize.minimize_scalar(lambda t: (t - 2) ** 2).x
            return {"arr": np.arange(n) * scale, "x": np.float64(round(x)), "t": (1, 2),
                    "nan": float("nan")}
        """,
        tmp_path,
        args=(3,),
        kwargs={"scale": 2},
        limits=Limits(timeout_s=30),  # default 2048 MB: numpy + scipy must import under it
    )
    assert r.ok, r.feedback()
    assert r.value["arr"] == [0, 2, 4]
    assert r.value["x"] == 2.0 and r.value["t"] == [1, 2]
    assert r.value["nan"] != r.value["nan"]
    assert r.sandboxed == (mode != "none") and r.isolation == mode
    assert r.error_class is None and r.seconds > 0


def test_exception_reports_candidate_traceback(mode: str, tmp_path: Path) -> None:
    r = run(
        """
        def helper(x):
            raise ValueError(f"boom {x}")

        def main():
            return helper(42)
        """,
        tmp_path,
    )
    assert not r.ok and r.error_class == "exception"
    assert r.error == "ValueError: boom 42"
    assert 'candidate.py", line 3, in helper' in r.traceback
    assert 'candidate.py", line 6, in main' in r.traceback
    assert "_runner.py" not in r.traceback
    feedback = r.feedback()
    assert "[exception]" in feedback and "boom 42" in feedback and "line 3" in feedback


def test_syntax_error(mode: str, tmp_path: Path) -> None:
    r = run("def main():\n    return 1\n\ndef broken(:\n    pass\n", tmp_path)
    assert r.error_class == "syntax"
    assert r.error is not None and r.error.startswith("SyntaxError:") and "line 4" in r.error


def test_missing_entry_lists_functions(tmp_path: Path) -> None:
    r = run("def solve():\n    return 1\n", tmp_path)
    assert r.error_class == "missing_entry"
    assert r.error is not None and "'main'" in r.error and "solve" in r.error


def test_unserializable_value(tmp_path: Path) -> None:
    r = run("def main():\n    return object()\n", tmp_path)
    assert r.error_class == "unserializable"
    assert r.error is not None and "not JSON serializable" in r.error


@pytest.mark.parametrize(
    ("body", "error_class", "text"),
    [
        ("os.kill(os.getpid(), signal.SIGKILL)", "crash", "SIGKILL"),
        ("os._exit(0)", "crash", "without returning a result"),
        ("sys.exit(3)", "exception", "SystemExit: 3"),
    ],
)
def test_abnormal_exits(mode: str, tmp_path: Path, body: str, error_class: str, text: str) -> None:
    r = run(f"import os, signal, sys\n\ndef main():\n    {body}\n", tmp_path)
    assert r.error_class == error_class
    assert r.error is not None and text in r.error


def test_timeout_kills_whole_process_group(mode: str, tmp_path: Path) -> None:
    tag = marker()
    r = run(
        f"""
        import os, subprocess, time

        def main():
            child = subprocess.Popen(["sleep", "{tag}"])
            forked = os.fork()
            if forked == 0:
                os.execvp("sleep", ["sleep", "{tag}"])
            with open("pids.json", "w") as f:
                f.write("[%d, %d]" % (child.pid, forked))
            while True:
                time.sleep(0.05)
        """,
        tmp_path,
        limits=Limits(timeout_s=1),
    )
    assert r.error_class == "timeout" and r.error == "timed out after 1 s"
    assert 1 <= r.seconds < 5
    pids = json.loads((tmp_path / "work" / "pids.json").read_text())
    grace = 0.0 if mode != "none" else 2.0
    assert eventually(lambda: not processes_with(tag), grace), processes_with(tag)
    if mode == "none":  # under bwrap these are pid-namespace pids, meaningless out here
        assert eventually(lambda: all(gone(pid) for pid in pids))


def test_background_child_killed_after_normal_return(mode: str, tmp_path: Path) -> None:
    tag = marker()
    r = run(
        f"""
        import subprocess

        def main():
            subprocess.Popen(["sleep", "{tag}"])
            return "done"
        """,
        tmp_path,
    )
    assert r.ok and r.value == "done"
    grace = 0.0 if mode != "none" else 2.0
    assert eventually(lambda: not processes_with(tag), grace), processes_with(tag)


def test_child_escaping_into_its_own_session_is_killed(mode: str, tmp_path: Path) -> None:
    tag = marker()
    r = run(
        f"""
        import os

        def main():
            pid = os.fork()
            if pid == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execvp("sleep", ["sleep", "{tag}"])
                os._exit(0)
            os.waitpid(pid, 0)
            return "escaped"
        """,
        tmp_path,
    )
    assert r.ok and r.value == "escaped"
    assert eventually(lambda: not processes_with(tag), 2.0), processes_with(tag)


def test_memory_limit(mode: str, tmp_path: Path) -> None:
    before = resource.getrlimit(resource.RLIMIT_AS)
    r = run(
        "def main():\n    return len(bytearray(4 * 1024**3))\n",
        tmp_path,
        limits=Limits(timeout_s=20, memory_mb=256),
    )
    assert r.error_class == "memory" and r.error == "memory limit exceeded (256 MB)"
    assert "line 2" in r.traceback
    assert resource.getrlimit(resource.RLIMIT_AS) == before  # the evaluator is untouched
    assert len(bytearray(300 * 1024**2)) == 300 * 1024**2


def test_cpu_limit(mode: str, tmp_path: Path) -> None:
    r = run(
        "def main():\n    while True:\n        pass\n",
        tmp_path,
        limits=Limits(timeout_s=10, cpu_s=1),
    )
    assert r.error_class == "cpu" and r.error == "CPU time limit exceeded (1 s)"
    assert r.seconds < 5


def test_file_size_limit(mode: str, tmp_path: Path) -> None:
    r = run(
        "def main():\n    open('big.bin', 'wb').write(b'x' * (2 * 1024**2))\n",
        tmp_path,
        limits=Limits(timeout_s=20, file_size_mb=1),
    )
    assert r.error_class == "file_size" and r.error == "file size limit exceeded (1 MB)"


def test_environment_is_scrubbed(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_TEST_API_KEY", "sk-secret")
    monkeypatch.setenv("MY_TOKEN", "tok")
    monkeypatch.setenv("HARNESS_TEST_PLAIN", "visible")
    r = run("import os\n\ndef main():\n    return dict(os.environ)\n", tmp_path)
    assert r.ok, r.feedback()
    env = r.value
    assert "HARNESS_TEST_API_KEY" not in env and "MY_TOKEN" not in env
    assert env["HARNESS_TEST_PLAIN"] == "visible"
    work = (tmp_path / "work").resolve()
    assert Path(env["HOME"]).parent == work and Path(env["TMPDIR"]).parent == work
    assert env["PYTHONHASHSEED"] == "0" and env["OPENBLAS_NUM_THREADS"] == "1"


def test_scrubbed_env_helper() -> None:
    env = scrubbed_env({"AWS_SECRET_ACCESS_KEY": "x", "db_password": "y", "PATH": "/bin"})
    assert env["PATH"] == "/bin"
    assert "AWS_SECRET_ACCESS_KEY" not in env and "db_password" not in env
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_output_flood_is_capped(mode: str, tmp_path: Path) -> None:
    r = run(
        """
        import sys

        def main():
            sys.stdout.write("x" * 50_000_000)
            print("tail-end")
            return 1
        """,
        tmp_path,
        limits=Limits(timeout_s=20, max_output_bytes=1000),
    )
    assert r.ok, r.feedback()
    assert r.stdout.startswith("[... ") and "bytes truncated ...]" in r.stdout
    assert r.stdout.endswith("tail-end\n") and len(r.stdout) < 1100
    assert len(r.feedback()) < 3000


def test_candidate_cannot_forge_its_result(mode: str, tmp_path: Path) -> None:
    r = run(
        """
        import glob, json

        def main():
            argv = open("/proc/self/cmdline", "rb").read().split(b"\\0")
            paths = [a.decode() for a in argv if b".result-" in a] + glob.glob(".result-*")
            for path in paths:
                with open(path, "w") as f:
                    json.dump({"ok": True, "value": 1e9}, f)
            assert paths
            return 1
        """,
        tmp_path,
    )
    assert r.ok and r.value == 1, r.feedback()


def test_reused_workdir_left_booby_trapped(mode: str, tmp_path: Path) -> None:
    target = tmp_path / "evaluator.txt"
    target.write_text("precious")
    first = run(
        """
        import os

        def main(target):
            for name in ("stdout.txt", "candidate.py", "home"):
                if os.path.isdir(name):
                    os.rmdir(name)
                else:
                    os.remove(name)
                os.symlink(target if name != "home" else os.path.dirname(target), name)
            return 1
        """,
        tmp_path,
        args=(str(target),),
    )
    assert first.ok, first.feedback()
    second = run(
        "import os\n\ndef main():\n    print('hi')\n    return os.environ['HOME']\n", tmp_path
    )
    assert second.ok and second.stdout == "hi\n", second.feedback()
    assert not Path(second.value).is_symlink()
    assert target.read_text() == "precious"


def test_filesystem_is_read_only_outside_workdir(isolated: str, tmp_path: Path) -> None:
    scores = tmp_path / "scores.json"  # an evaluator file next to the workdir, under /tmp
    scores.write_text('{"best": 0.5}')
    name = f"harness-sandbox-{secrets.token_hex(4)}"
    read_only = [f"/{name}", str(Path(os.__file__).with_name(name))]
    r = run(
        f"""
        def main():
            try:
                seen = open({str(scores)!r}).read()  # /tmp is private: the file is not there
            except OSError as exc:
                seen = type(exc).__name__
            with open({str(scores)!r}, "w") as f:
                f.write('{{"best": 1e9}}')  # lands on the private tmpfs, gone afterwards
            errors = []
            for path in {read_only!r}:
                try:
                    open(path, "x").close()
                    errors.append("created " + path)
                except OSError as exc:
                    errors.append(exc.strerror)
            with open("inside.txt", "w") as f:
                f.write("fine")
            status = open("/proc/self/status").read().splitlines()
            caps = [line.split()[1] for line in status if line.startswith("CapEff")]
            return seen, errors, caps
        """,
        tmp_path,
    )
    try:
        assert r.ok and r.sandboxed, r.feedback()
        seen, errors, caps = r.value
        assert caps == ["0" * 16]  # even as root: CAP_SYS_ADMIN could remount / read-write
        assert seen == "FileNotFoundError"
        assert errors == ["Read-only file system"] * 2
        assert scores.read_text() == '{"best": 0.5}'
        assert (tmp_path / "work" / "inside.txt").read_text() == "fine"
    finally:
        for path in read_only:
            Path(path).unlink(missing_ok=True)


def test_gpu_device_nodes_are_found_and_nothing_else(tmp_path: Path) -> None:
    for name in ("nvidia0", "nvidiactl", "nvidia-uvm", "nvidia-caps/nvidia-cap1", "dri/card0",
                 "dri/renderD128", "kfd", "null", "loop0", "kvm"):  # fmt: skip
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).touch()
    found = [p.relative_to(tmp_path).as_posix() for p in sandbox.gpu_devices(tmp_path)]
    assert found == ["dri/card0", "dri/renderD128", "kfd", "nvidia-caps/nvidia-cap1",
                     "nvidia-uvm", "nvidia0", "nvidiactl"]  # fmt: skip


#: Nodes that neither minimal /dev has (bwrap's, the launcher's), one of which nearly every
#: machine and container has: /dev/console and /dev/fuse where /dev/kvm is missing.
HOST_ONLY_DEVICES = [
    p
    for name in ("loop-control", "kvm", "cpu_dma_latency", "fuse", "console")
    if (p := Path("/dev", name)).exists() and not p.is_symlink()
]


@pytest.mark.skipif(not HOST_ONLY_DEVICES, reason="no device node outside the minimal /dev")
def test_the_gpu_device_nodes_are_bound(
    isolated: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node the minimal /dev lacks (standing in for /dev/nvidia0 on a machine without a
    GPU) is visible to the candidate exactly when gpu_devices() lists it."""
    node = str(HOST_ONLY_DEVICES[0])
    code = f"import os\n\ndef main():\n    return os.path.exists({node!r})\n"
    assert run(code, tmp_path / "plain").value is False
    monkeypatch.setattr(mounts, "gpu_devices", lambda: [Path(node)])
    bound = run(code, tmp_path / "gpu")
    assert bound.ok and bound.sandboxed and bound.value is True, bound.feedback()


def test_no_network(isolated: str, tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        r = run(
            f"""
            import socket

            def main():
                try:
                    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
                    return "connected"
                except OSError as exc:
                    return type(exc).__name__
            """,
            tmp_path,
        )
    assert r.ok and r.sandboxed, r.feedback()
    assert r.value != "connected"


def test_fallback_mode_warns_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HARNESS_SANDBOX", "none")
    monkeypatch.setattr(policy, "_warned_unisolated", False)
    caplog.set_level(logging.WARNING, logger="harness.sandbox")
    runs = [run("def main():\n    return 7\n", tmp_path) for _ in range(2)]
    assert all(r.ok and r.value == 7 and not r.sandboxed for r in runs)
    warnings = [rec for rec in caplog.records if rec.name == "harness.sandbox"]
    assert len(warnings) == 1
    assert "WITHOUT filesystem/network isolation" in warnings[0].getMessage()
    assert "bubblewrap" in warnings[0].getMessage()


def test_sandbox_mode_misconfiguration_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on PATH
    monkeypatch.setenv("HARNESS_SANDBOX", "bwrap")
    with pytest.raises(RuntimeError, match="bwrap not found on PATH"):
        run("def main():\n    return 1\n", tmp_path)
    monkeypatch.setenv("HARNESS_SANDBOX", "chroot")
    with pytest.raises(ValueError, match="HARNESS_SANDBOX"):
        run("def main():\n    return 1\n", tmp_path)


@pytest.mark.parametrize("choice", ["none", *ISOLATED])
def test_limits_choose_the_isolation_over_the_environment(
    choice: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Limits.sandbox`` decides for its candidate, whatever ``HARNESS_SANDBOX`` says."""
    monkeypatch.setenv("HARNESS_SANDBOX", "bwrap" if choice == "none" else "none")
    r = run("def main():\n    return 1\n", tmp_path, limits=Limits(timeout_s=20, sandbox=choice))
    assert r.ok and r.value == 1, r.feedback()
    assert r.isolation == choice and r.sandboxed == (choice != "none")
    with pytest.raises(ValueError, match="sandbox must be one of"):
        run("def main():\n    return 1\n", tmp_path, limits=Limits(sandbox="chroot"))


def test_limits_choose_the_namespace_launcher_without_bubblewrap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not NS_OK:
        pytest.skip("user namespaces unusable here")
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on PATH
    monkeypatch.delenv("HARNESS_SANDBOX", raising=False)
    r = run("def main():\n    return 1\n", tmp_path, limits=Limits(sandbox="namespace"))
    assert r.ok and r.isolation == "namespace" and r.sandboxed, r.feedback()
    with pytest.raises(RuntimeError, match="sandbox=bwrap but bubblewrap is unusable"):
        run("def main():\n    return 1\n", tmp_path, limits=Limits(sandbox="bwrap"))


@pytest.mark.parametrize("choice", ISOLATED)
def test_directories_in_limits_hidden_are_invisible(
    choice: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory named in ``Limits.hidden`` (outside /tmp, which is private anyway) is an
    empty, read-only directory for the candidate, alongside ``HARNESS_SANDBOX_HIDE``'s."""
    monkeypatch.delenv("HARNESS_SANDBOX", raising=False)
    root = Path(tempfile.mkdtemp(prefix="harness-hidden-", dir="/var/tmp")).resolve()
    try:
        listed, named = root / "listed", root / "named"
        for path in (listed, named, root / "visible"):
            path.mkdir()
            (path / "secret.txt").write_text("evaluator-only")
        monkeypatch.setenv("HARNESS_SANDBOX_HIDE", str(listed))
        limits = Limits(timeout_s=20, sandbox=choice, hidden=(str(named),))
        paths = [str(path) for path in (listed, named, root / "visible")]
        r = run(
            f"""
            import os

            def main():
                return {{path: os.listdir(path) for path in {paths!r}}}
            """,
            tmp_path,
            limits=limits,
        )
        assert r.ok and r.isolation == choice, r.feedback()
        assert r.value == {str(listed): [], str(named): [], str(root / "visible"): ["secret.txt"]}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_concurrent_runs_in_threads_never_disturb_each_other(mode: str, tmp_path: Path) -> None:
    """Several long-lived evaluations at once in one process (a Dask worker's threads, the
    rl_algo plugin's paired evaluations), beside an evaluator's own subprocess: none may
    take another's candidate for an orphan it adopted, kill it or reap it."""
    program = """
    import subprocess, time

    def main(i):
        time.sleep(0.2)
        subprocess.run(["true"], check=True)  # a child of the candidate, reaped by it
        time.sleep(0.2)
        return i
    """

    def evaluator_subprocess() -> int:
        return subprocess.run(["sleep", "0.6"], check=False).returncode

    for wave in range(6):
        with ThreadPoolExecutor(max_workers=5) as pool:
            helper = pool.submit(evaluator_subprocess)
            futures = [pool.submit(run, program, tmp_path / f"{wave}-{i}", args=(i,))
                       for i in range(4)]  # fmt: skip
            runs = [future.result() for future in futures]
            assert helper.result() == 0, "an evaluator's own subprocess was killed"
        assert [r.value for r in runs] == [0, 1, 2, 3], [r.feedback() for r in runs]
        assert all(r.ok for r in runs)
