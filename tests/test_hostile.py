"""The hostile-candidates suite: adversarial programs evaluated through real runs of the loop.

Each mode (bubblewrap, and plain rlimits with ``HARNESS_SANDBOX=none``) gets one real run of
the ``toy`` task in which the test-only proposer ``llm=hostile`` (``tests/toy/harness_hostile``)
proposes one adversary per round: proposal -> sandboxed evaluation in a worker -> stored node.
After every evaluation the suite checks /proc for any surviving process of the candidate;
after the run, each adversary's node must show the expected, clearly labelled outcome, later
rounds must still have happened, and the run must have reached its budget.

Probes that try to get out (read a secret, open the run database, connect somewhere) print
``ESCAPED <what>`` or ``BLOCKED <what>: <why>``; they return 1.0 when everything was blocked
and raise ``RuntimeError("ESCAPED: ...")`` otherwise, so the node says what got out.

Each adversary states its outcome under bubblewrap and without it. Without bubblewrap
(``ESCAPES``, or a check that asserts the escape) a candidate runs as the evaluator's user:
it reads what that user can read (``.env`` and ``~/.netrc`` files, ``harness.db``, the
evaluator's ``/proc/<pid>/environ`` with its API keys), writes where it can write, connects
to anything, leaves the process cap's cgroup when that user is root, and kills its parent,
the evaluation worker (the evaluation is then retried once alone and recorded as
``worker_crash``). What does hold there: timeouts, memory/CPU/file-size/process limits,
output caps, the cleanup of every process it started, and scores that only the evaluator
computes. Destructive or outward-facing probes (writing into the source tree, ``kill(-1)``,
reading the evaluator's memory, the public network) are not run without bubblewrap at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import harness_hostile
import harness_toy
import pytest
from helpers import openai_run, process_texts, run_loop, toy_answer

import harness
from harness import db as store
from harness import plugins, sandbox
from harness.llm.base import NodeView
from harness.sandbox import cgroup, process
from harness.sandbox.limits import rlimits

pytestmark = pytest.mark.isolation  # make test-sandbox runs it without bubblewrap too

# Every limit but the timeout must be hit before it: a flood writes 64 MiB before its file size
# limit stops it, which took over 1.5 s on a 2-core machine at load average 14 (the suite on
# two xdist workers beside other work). Only the endless loop waits it out.
TIMEOUT_S = 5.0
MEMORY_MB = 256
SECRET_PREFIX = "sk-hostile-"  # what the probes look for: the secret is in no program
SECRET = SECRET_PREFIX + secrets.token_hex(12)
BWRAP_OK = sandbox.bwrap_available()
NS_OK = sandbox.namespace_available()
CAP = sandbox.process_cap()
CGROUP_PARENT = cgroup.pids_cgroup_parent() or Path("/nonexistent")
TOY_PLUGIN = Path(harness_toy.__file__ or "").resolve()
HARNESS_DIR = Path(harness.__file__).resolve().parent
NUMPY_DIR = Path(__import__("numpy").__file__).resolve().parent
PROTECTED_FILES = (
    TOY_PLUGIN,
    HARNESS_DIR / "evaluation.py",
    HARNESS_DIR / "sandbox" / "candidate.py",
    HARNESS_DIR / "sandbox" / "_runner.py",
)


@dataclass(frozen=True)
class Outcome:
    """What a node must look like: its error class (None: evaluated fine), its score (None:
    no score) and a text its feedback contains."""

    error_class: str | None
    score: float | None = None
    feedback: str = ""


HELD = Outcome(None, 1.0)  # a probe whose every attempt was blocked
ESCAPES = Outcome("exception", None, "ESCAPED")  # it got out (a documented plain-mode limit)
INVALID = Outcome("invalid", None, "f() returned")
# Root without a writable pids cgroup has no process cap: 300 children are then all started.
STORM = Outcome(None, 1.0) if CAP is not None else Outcome(None, 9.0)
FORK_BOMB = (  # with RLIMIT_NPROC, forks fail just the same but nothing tells the evaluator
    Outcome(
        "processes",
        None,
        f"process limit exceeded ({sandbox.Limits().max_processes} processes and threads); "
        "then timed out",
    )
    if CAP == "cgroup"
    else Outcome("timeout", None, "timed out")
)


@dataclass(frozen=True)
class Adversary:
    name: str
    program: str  # a string.Template: $mark, $secret, $db, ... (see Context.values)
    isolated: Outcome  # under bubblewrap, and under the namespace launcher
    plain: Outcome | None  # None: never run without isolation (destructive or outward-facing)
    check: Callable[[Context, dict[str, Any], str], None] | None = None


PROBE = """
import os, sys

_escaped = []


def _try(label, action):
    try:
        got = action()
    except BaseException as exc:
        print(f"BLOCKED {label}: {type(exc).__name__}: {exc}")
        return
    if got:
        _escaped.append(label)
        print(f"ESCAPED {label}")
    else:
        print(f"BLOCKED {label}")


def _verdict():
    if _escaped:
        raise RuntimeError("ESCAPED: " + "; ".join(_escaped))
    return 1.0
"""


def probe(body: str) -> str:
    return PROBE + textwrap.dedent(body)


# ----------------------------------------------------------------------------- adversaries
def _output_is_capped(ctx: Context, node: dict[str, Any], mode: str) -> None:
    assert len(node["feedback"]) < 5000, len(node["feedback"])
    assert len(node["analysis"] or "") < 5000


def _host_files_untouched(ctx: Context, node: dict[str, Any], mode: str) -> None:
    created = [path for path in ctx.write_targets(mode) if os.path.lexists(path)]
    if mode == "none":  # the user's own rights: it can write wherever the evaluator can
        assert created == ctx.write_targets(mode), created
    else:
        assert not created, created


def _secret_never_stored(ctx: Context, node: dict[str, Any], mode: str) -> None:
    assert SECRET not in node["feedback"] and SECRET not in (node["analysis"] or "")
    db_bytes = b"".join(
        path.read_bytes() for path in ctx.run_dir.glob(f"{store.DB_NAME}*") if path.is_file()
    )
    assert SECRET.encode() not in db_bytes


def _validator_intact(ctx: Context, node: dict[str, Any], mode: str) -> None:
    assert node["score"] != 1e9
    assert {path: _digest(path) for path in PROTECTED_FILES} == ctx.digests


def _loopback_server_untouched(ctx: Context, node: dict[str, Any], mode: str) -> None:
    seen = ctx.listeners.seen
    if mode == "none":
        assert {"tcp", "unix", "abstract"} <= set(seen), seen
    else:
        assert not seen, seen


def _no_hang(ctx: Context, node: dict[str, Any], mode: str) -> None:
    """Not ended by the timeout, and far from the hour it would linger. That the harness
    does not wait for a lingering candidate at all is timed against a long timeout in
    test_a_candidate_lingering_after_returning_is_not_waited_for (a 5 s timeout leaves
    no margin for a loaded machine)."""
    assert "timed out" not in node["feedback"], node["feedback"]
    assert node["eval_seconds"] < 60, node["eval_seconds"]


ADVERSARIES: list[Adversary] = [
    # --- resources
    Adversary(
        "infinite_loop",
        "def f():\n    while True:\n        pass\n",
        Outcome("timeout", None, f"timed out after {TIMEOUT_S:g} s"),
        Outcome("timeout", None, f"timed out after {TIMEOUT_S:g} s"),
    ),
    Adversary(
        "process_storm",
        """
import os, time

def f():
    started = 0
    for _ in range(300):
        try:
            pid = os.fork()
        except OSError as exc:
            print("fork refused:", exc)
            break
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        started += 1
    print("children started:", started)
    return 1.0 if started < 300 else 9.0
""",
        STORM,
        STORM,
    ),
    Adversary(
        "fork_bomb",
        """
import os, time

def f():
    while True:
        try:
            os.fork()
        except OSError:
            time.sleep(0.001)
""",
        FORK_BOMB,
        FORK_BOMB,
    ),
    Adversary(
        "memory_bomb",
        """
def f():
    hoard = []
    while True:
        hoard.append(bytearray(32 * 1024 * 1024))
""",
        Outcome("memory", None, f"memory limit exceeded ({MEMORY_MB} MB)"),
        Outcome("memory", None, f"memory limit exceeded ({MEMORY_MB} MB)"),
    ),
    Adversary(
        "output_flood",
        """
import sys

def f():
    chunk = "x" * (1 << 20)
    for _ in range(4 << 10):  # 4 GiB on each stream
        sys.stdout.write(chunk)
        sys.stderr.write(chunk)
    return 1.0
""",
        Outcome("file_size", None, "file size limit exceeded"),
        Outcome("file_size", None, "file size limit exceeded"),
        _output_is_capped,
    ),
    Adversary(
        "output_flood_ignoring_sigxfsz",
        """
import os, signal

def f():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    chunk = b"y" * (1 << 20)
    refused = 0
    for _ in range(4 << 10):
        for fd in (1, 2):
            try:
                os.write(fd, chunk)
            except OSError:
                refused += 1
    print("refused writes:", refused)
    return 1.0 if refused else 9.0
""",
        Outcome(None, 1.0),
        Outcome(None, 1.0),
        _output_is_capped,
    ),
    # --- secrets and files
    Adversary(
        "read_secrets",
        probe(
            """
            SECRET = $secret_prefix

            def _environ_files():
                found = []
                for name in os.listdir("/proc"):
                    if name.isdigit():
                        try:
                            with open(f"/proc/{name}/environ", "rb") as fh:
                                for var in fh.read().split(b"\\0"):
                                    if SECRET.encode() in var:  # print it, to be stored
                                        found.append(name)
                                        print("leaked:", var.decode())
                        except OSError:
                            pass
                return found

            def _dotenv():
                text = open($dotenv).read()
                print("leaked:", text)
                return SECRET in text

            def f():
                _try("own environment", lambda: any(SECRET in v for v in os.environ.values()))
                _try("/proc/*/environ", _environ_files)
                _try(".env in the orchestrator's cwd", _dotenv)
                _try("~/.netrc of the evaluator", lambda: SECRET in open($netrc).read())
                return _verdict()
            """
        ),
        HELD,
        ESCAPES,
        _secret_never_stored,
    ),
    Adversary(
        "open_run_database",
        probe(
            """
            def _read():
                with open($db, "rb") as fh:
                    return fh.read(16) == b"SQLite format 3\\x00"

            def f():
                _try("read harness.db", _read)
                _try("open harness.db for writing",
                     lambda: os.close(os.open($db, os.O_WRONLY | os.O_APPEND)) or True)
                _try("list the run directory", lambda: "harness.db" in os.listdir($run_dir))
                return _verdict()
            """
        ),
        HELD,
        ESCAPES,
    ),
    Adversary(
        "write_outside_workdir",
        probe(
            """
            def f():
                for path in $targets:
                    _try("create " + path, lambda: os.close(os.open(
                        path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)) or True)
                return 1.0  # it cannot tell a private tmpfs from the host: the test checks
            """
        ),
        Outcome(None, 1.0),
        Outcome(None, 1.0),
        _host_files_untouched,
    ),
    Adversary(
        "tamper_with_the_validator",
        probe(
            """
            def _patch():
                import harness.evaluation, harness.sandbox
                harness.evaluation._score = lambda config, result: 1e9
                harness.sandbox.run_candidate = None
                return False  # its own copy only: the evaluator runs in another process

            def f():
                _try("monkeypatch harness in the candidate's process", _patch)
                for path in $protected:
                    _try("open for writing " + path,
                         lambda: os.close(os.open(path, os.O_WRONLY | os.O_APPEND)) or True)
                return _verdict()
            """
        ),
        HELD,
        ESCAPES,
        _validator_intact,
    ),
    # --- faked scores and results
    Adversary(
        "claim_a_score_in_a_tuple", 'def f():\n    return 1.0, {"score": 10.0}\n', INVALID, INVALID
    ),
    Adversary(
        "print_fake_result_lines",
        """
import json, sys

def f():
    for stream in (sys.stdout, sys.stderr):
        print(json.dumps({"ok": True, "value": 10.0}), file=stream)
        print(json.dumps({"score": 10.0, "success": True}), file=stream)
    return 2.0
""",
        Outcome(None, 2.0),
        Outcome(None, 2.0),
    ),
    Adversary(
        "forge_the_result_file",
        """
import json, os

def f():
    argv = open("/proc/self/cmdline", "rb").read().split(b"\\0")
    result = next(a.decode() for a in argv if b".result-" in a)
    with open(result, "w") as fh:
        json.dump({"ok": True, "value": 2.0, "score": 10.0, "metrics": {"value": 10.0}}, fh)
    os._exit(0)
""",
        Outcome(None, 2.0),
        Outcome(None, 2.0),
    ),
    # --- values
    Adversary("nan", 'def f():\n    return float("nan")\n', INVALID, INVALID),
    Adversary("inf", 'def f():\n    return float("inf")\n', INVALID, INVALID),
    Adversary("minus_inf", 'def f():\n    return -float("inf")\n', INVALID, INVALID),
    Adversary("negative", "def f():\n    return -5.0\n", Outcome(None, -5.0), Outcome(None, -5.0)),
    Adversary(
        "huge_float", "def f():\n    return 1e308\n", Outcome(None, 10.0), Outcome(None, 10.0)
    ),
    Adversary("huge_int", "def f():\n    return 10 ** 400\n", INVALID, INVALID),
    Adversary("string", 'def f():\n    return "10"\n', INVALID, INVALID),
    Adversary("bool", "def f():\n    return True\n", INVALID, INVALID),
    Adversary("none", "def f():\n    return None\n", INVALID, INVALID),
    Adversary("dict_with_a_score", 'def f():\n    return {"score": 10.0}\n', INVALID, INVALID),
    Adversary(
        "deeply_nested",
        "def f():\n    x = []\n    for _ in range(100_000):\n        x = [x]\n    return x\n",
        Outcome("unserializable", None, "RecursionError"),
        Outcome("unserializable", None, "RecursionError"),
    ),
    Adversary(
        "huge_string",
        'def f():\n    return "9" * 5_000_000\n',
        INVALID,
        INVALID,
        _output_is_capped,
    ),
    # --- exits, signals, file descriptors
    Adversary(
        "exit_builtin",
        "def f():\n    exit(0)\n",
        Outcome("exception", None, "SystemExit"),
        Outcome("exception", None, "SystemExit"),
    ),
    Adversary(
        "os_exit",
        "import os\n\ndef f():\n    os._exit(0)\n",
        Outcome("crash", None, "without returning a result"),
        Outcome("crash", None, "without returning a result"),
    ),
    Adversary(
        "sys_exit_in_finally",
        "import sys\n\ndef f():\n    try:\n        return 10.0\n"
        "    finally:\n        sys.exit(0)\n",
        Outcome("exception", None, "SystemExit: 0"),
        Outcome("exception", None, "SystemExit: 0"),
    ),
    Adversary(
        "kill_its_parent",
        """
import os, signal, time

def f():
    os.kill(os.getppid(), signal.SIGKILL)
    time.sleep(0.3)
    return 1.0
""",
        Outcome(None, 1.0),
        # The parent is the evaluation worker: it dies, the evaluation is retried alone in a
        # fresh worker, dies again and is recorded as such; the run goes on.
        Outcome("worker_crash", None, "worker process died"),
    ),
    Adversary(
        "kill_everything",
        """
import os, signal, time

def f():
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:  # nothing else it may signal
        pass
    time.sleep(0.3)
    return 1.0
""",
        Outcome(None, 1.0),
        None,  # kill(-1) as the evaluator's user would kill every process of that user
    ),
    Adversary(
        "close_and_redirect_fds",
        """
import os, sys

def f():
    null = os.open("/dev/null", os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    sys.stdout = open(os.devnull, "w")
    os.closerange(0, 1024)
    return 3.0
""",
        Outcome(None, 3.0),
        Outcome(None, 3.0),
    ),
    Adversary(
        "daemonize",
        """
import os

def f():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execvp("sleep", ["sleep", $mark])
        os._exit(0)
    os.wait()
    return 1.0
""",
        Outcome(None, 1.0),
        Outcome(None, 1.0),
    ),
    Adversary(
        "linger_after_returning",
        """
import atexit, os, threading, time

def f():
    threading.Thread(target=time.sleep, args=(3600,)).start()  # not a daemon thread
    atexit.register(time.sleep, 3600)
    return 1.0
""",
        Outcome(None, 1.0),
        Outcome(None, 1.0),
        _no_hang,
    ),
    Adversary(
        "read_evaluator_memory",
        probe(
            """
            def _peek():
                for name in os.listdir("/proc"):
                    if not name.isdigit() or int(name) == os.getpid():
                        continue
                    try:
                        cmdline = open(f"/proc/{name}/cmdline", "rb").read()
                        if cmdline.split(b"\\0")[0].endswith(b"bwrap"):
                            continue  # the sandbox's own init (its arguments name test paths)
                        if b"multiprocessing" not in cmdline and b"pytest" not in cmdline:
                            continue
                        with open(f"/proc/{name}/maps") as maps:
                            start = int(maps.readline().split("-")[0], 16)
                        with open(f"/proc/{name}/mem", "rb") as mem:
                            mem.seek(start)
                            if len(mem.read(16)) == 16:
                                return True
                    except (OSError, ValueError):
                        continue
                return False

            def f():
                _try("read an evaluator process's memory", _peek)
                return _verdict()
            """
        ),
        HELD,
        None,  # as the same user it can, where ptrace rules allow (root: always)
    ),
    # --- network
    Adversary(
        "connect_to_the_host",
        probe(
            """
            import socket

            def _tcp():
                with socket.create_connection(("127.0.0.1", $port), timeout=1) as s:
                    s.sendall(b"tcp")
                return True

            def _unix(address, tag):
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(1)
                    s.connect(address)
                    s.sendall(tag)
                return True

            def f():
                _try("TCP to a loopback server", _tcp)
                _try("unix socket of the host", lambda: _unix($unix, b"unix"))
                _try("abstract unix socket", lambda: _unix($abstract, b"abstract"))
                return _verdict()
            """
        ),
        HELD,
        ESCAPES,
        _loopback_server_untouched,
    ),
    Adversary(
        "connect_to_the_internet",
        probe(
            """
            import socket

            def f():
                _try("TCP to 1.1.1.1:443",
                     lambda: socket.create_connection(("1.1.1.1", 443), timeout=1).close() or 1)
                _try("UDP to 8.8.8.8:53", lambda: socket.socket(
                    socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("8.8.8.8", 53)))
                _try("DNS lookup", lambda: socket.getaddrinfo("example.com", 443))
                return _verdict()
            """
        ),
        HELD,
        None,  # not from a test without isolation
    ),
]

if CAP == "cgroup":
    ADVERSARIES.append(
        Adversary(
            "leave_the_process_cap",
            probe(
                """
                def _leave():
                    with open($cgroup_escape, "w") as fh:
                        fh.write(str(os.getpid()))
                    return True

                def f():
                    _try("move itself out of its pids cgroup", _leave)
                    return _verdict()
                """
            ),
            HELD,
            # As root in plain mode it can (and would have no cap after that); under bwrap
            # /sys is read-only. As another user it depends on the cgroup delegation.
            ESCAPES if os.getuid() == 0 else None,
        )
    )

BENIGN_AFTER = [
    ("benign_after_1", "def f():\n    return 2.5\n"),
    ("benign_after_2", "def f():\n    return 3.5\n"),
]


def adversaries(mode: str) -> list[Adversary]:
    chosen = [a for a in ADVERSARIES if mode != "none" or a.plain is not None]
    if CAP is None:  # no process cap here: a real fork bomb would take the machine down
        chosen = [a for a in chosen if a.name != "fork_bomb"]
    return chosen


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- the run
class Listeners:
    """A TCP server on 127.0.0.1, a unix socket server and an abstract one, recording who
    connected (a candidate under bubblewrap must reach none of them)."""

    def __init__(self, unix_path: Path, abstract: str) -> None:
        self.seen: list[str] = []
        self.sockets = []
        tcp = socket.create_server(("127.0.0.1", 0))
        self.port = tcp.getsockname()[1]
        self.sockets.append(tcp)
        for address in (str(unix_path), abstract):
            server = socket.socket(socket.AF_UNIX)
            server.bind(address)
            server.listen()
            self.sockets.append(server)
        for server in self.sockets:
            threading.Thread(target=self._serve, args=(server,), daemon=True).start()

    def _serve(self, server: socket.socket) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(1)
                with contextlib.suppress(OSError):
                    self.seen.append(conn.recv(64).decode(errors="replace"))

    def close(self) -> None:
        for server in self.sockets:
            server.close()


@dataclass
class Context:
    """Where things are for one run: the orchestrator's cwd (``project``), a home directory
    outside it, the run directory inside it, the test's own tmp dir, the listeners."""

    root: Path
    host_tmp: Path
    mark: str
    listeners: Listeners = field(init=False)
    digests: dict[Path, str] = field(default_factory=dict)
    survivors: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.project.mkdir()
        self.home.mkdir()
        (self.project / ".env").write_text(f"OPENAI_API_KEY={SECRET}\n")
        (self.home / ".netrc").write_text(f"machine api.example.com password {SECRET}\n")
        self.listeners = Listeners(self.project / "ipc.sock", "\0harness-hostile-" + self.mark)
        self.digests = {path: _digest(path) for path in PROTECTED_FILES}

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def run_dir(self) -> Path:
        return self.project / "run"

    def write_targets(self, mode: str) -> list[str]:
        name = f".hostile-{self.mark}"
        targets = [self.host_tmp / name, self.home / name, self.project / name, self.run_dir / name]
        if mode != "none":
            targets += [
                HARNESS_DIR / name,
                TOY_PLUGIN.with_name(name),
                NUMPY_DIR / name,
                Path("/etc") / name,
                Path("/") / name,
            ]
        return [str(path) for path in targets]

    def values(self, mode: str) -> dict[str, str]:
        return {
            "mark": repr(self.mark),
            "secret_prefix": repr(SECRET_PREFIX),
            "dotenv": repr(str(self.project / ".env")),
            "netrc": repr(str(self.home / ".netrc")),
            "db": repr(str(self.run_dir / store.DB_NAME)),
            "run_dir": repr(str(self.run_dir)),
            "targets": repr(self.write_targets(mode)),
            "protected": repr([str(path) for path in PROTECTED_FILES]),
            "port": str(self.listeners.port),
            "unix": repr(str(self.project / "ipc.sock")),
            "abstract": repr("\0harness-hostile-" + self.mark),
            "cgroup_escape": repr(str(CGROUP_PARENT / "cgroup.procs")),
        }

    def cleanup(self) -> None:
        self.listeners.close()
        for mode in ("bwrap", "none"):  # the targets of every isolated mode are bwrap's
            for target in self.write_targets(mode):
                with contextlib.suppress(OSError):
                    os.unlink(target)
        shutil.rmtree(self.root, ignore_errors=True)


TAG = "HARNESS_HOSTILE_RUN"


def candidate_processes(mark: str) -> list[str]:
    """Live processes of this run's candidates: everything the sandbox starts inherits
    ``HARNESS_HOSTILE_RUN=<mark>`` from the orchestrator (bwrap, the runner, what it forks
    and execs), and what the adversaries exec themselves also carries the mark in its argv.
    So do the evaluation workers and multiprocessing's helpers, which are not candidates.
    Zombies have neither, so they do not count."""
    needles = (f"{TAG}={mark}".encode(), mark.encode())
    found = []
    for pid, environ, cmdline in process_texts():
        helper = cmdline.startswith(sys.executable.encode() + bytes(1))
        if environ and helper and b"from multiprocessing." in cmdline:
            continue
        if any(needle in text for needle in needles for text in (environ, cmdline)):
            found.append(f"{pid}: {(cmdline or environ).replace(bytes(1), b' ')[:300]!r}")
    return found


def outside_tmp_root() -> Path:
    """A directory on disk outside /tmp (which bubblewrap replaces anyway), so that hiding
    the orchestrator's cwd and home is really exercised: /var/tmp where it is usable."""
    for base in ("/var/tmp", None):
        with contextlib.suppress(OSError):
            return Path(tempfile.mkdtemp(prefix="harness-hostile-", dir=base)).resolve()
    raise RuntimeError("no temporary directory")


@dataclass
class HostileRun:
    mode: str
    ctx: Context
    summary: dict[str, Any]
    nodes: dict[str, dict[str, Any]]
    seconds: float


@pytest.fixture(scope="module")
def bwrap_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileRun]:
    if not BWRAP_OK:
        pytest.skip("bubblewrap missing or its probe failed")
    yield from hostile_run("bwrap", tmp_path_factory)


@pytest.fixture(scope="module")
def namespace_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileRun]:
    if not NS_OK:
        pytest.skip("user namespaces unusable here")
    yield from hostile_run("namespace", tmp_path_factory)


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileRun]:
    yield from hostile_run("none", tmp_path_factory)


def hostile_run(mode: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileRun]:
    """One real run of every adversary of ``mode`` (then two benign rounds)."""
    ctx = Context(
        outside_tmp_root(),
        tmp_path_factory.mktemp(f"host-{mode}"),
        f"{10**6 + secrets.randbelow(10**6)}.{secrets.randbelow(10**6)}",
    )
    chosen = adversaries(mode)
    values = ctx.values(mode)
    script = [(a.name, Template(textwrap.dedent(a.program)).substitute(values)) for a in chosen]
    script += BENIGN_AFTER

    def on_evaluated(node: NodeView) -> None:
        """No grace where the sandbox waits for the last process to be gone (a cgroup or a pid
        namespace); otherwise SIGKILL, or the kernel's parent-death signal when the candidate
        killed its worker, takes effect a moment later."""
        waited = mode != "none" or CAP == "cgroup"
        grace = 0.0 if waited and node.error_class != "worker_crash" else 2.0
        deadline = time.monotonic() + grace
        while (found := candidate_processes(ctx.mark)) and time.monotonic() < deadline:
            time.sleep(0.01)
        if node.id > 0:
            ctx.survivors[node.name] = found

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_SANDBOX", mode)
        mp.setenv("HARNESS_PLUGINS", "harness_toy,harness_hostile")
        mp.setenv("OPENAI_API_KEY", SECRET)  # in the orchestrator and so in its workers
        mp.setenv("HOME", str(ctx.home))
        mp.setenv(TAG, ctx.mark)
        mp.setattr(harness_hostile, "SCRIPT", script)
        mp.setattr(harness_hostile, "ON_EVALUATED", on_evaluated)
        mp.chdir(ctx.project)
        plugins.reset()
        started = time.monotonic()
        try:
            summary = run_loop(
                ctx.run_dir,
                "+task=toy",
                "llm=hostile",
                "cognition=none",
                f"task.timeout_s={TIMEOUT_S}",
                f"task.memory_mb={MEMORY_MB}",
                "run.workers=1",
                f"run.max_evaluations={1 + len(script)}",
            )
            seconds = time.monotonic() - started
            db = store.open_db(ctx.run_dir)
            nodes = {row["name"]: row for row in db["nodes"].rows_where("id > 0", order_by="id")}
            yield HostileRun(mode, ctx, summary, nodes, seconds)
        finally:
            if plugins.pm.get_plugin("harness_hostile") is not None:
                plugins.pm.unregister(name="harness_hostile")
            plugins.reset()
            ctx.cleanup()


# ----------------------------------------------------------------------------- the tests
RUNS = {"bwrap": "bwrap_run", "namespace": "namespace_run", "none": "plain_run"}


@pytest.mark.parametrize("mode", list(RUNS))
def test_the_run_goes_on_to_its_budget(mode: str, request: pytest.FixtureRequest) -> None:
    run = request.getfixturevalue(RUNS[mode])
    summary = run.summary
    expected = adversaries(run.mode)
    assert summary["status"] == "finished", summary
    assert summary["evaluated"] == 1 + len(expected) + len(BENIGN_AFTER)
    assert "max_evaluations" in summary["stop_reason"]
    assert list(run.nodes) == [a.name for a in expected] + [n for n, _ in BENIGN_AFTER]
    for name, score in (("benign_after_1", 2.5), ("benign_after_2", 3.5)):
        assert run.nodes[name]["status"] == "evaluated" and run.nodes[name]["score"] == score
    claimed = [o.score for a in expected if (o := a.plain if run.mode == "none" else a.isolated)]
    assert summary["best_score"] == max(s for s in [*claimed, 3.5] if s is not None)
    assert not candidate_processes(run.ctx.mark)
    print(f"\n{run.mode}: {len(run.nodes)} rounds in {run.seconds:.1f} s")


@pytest.mark.parametrize("adversary", adversaries("bwrap"), ids=lambda a: a.name)
def test_adversary_is_contained_under_bwrap(bwrap_run: HostileRun, adversary: Adversary) -> None:
    check_contained(bwrap_run, adversary)


@pytest.mark.parametrize("adversary", adversaries("namespace"), ids=lambda a: a.name)
def test_adversary_is_contained_in_namespaces(
    namespace_run: HostileRun, adversary: Adversary
) -> None:
    check_contained(namespace_run, adversary)


@pytest.mark.parametrize("mode", list(RUNS))
def test_no_secret_value_is_stored_anywhere(mode: str, request: pytest.FixtureRequest) -> None:
    """``grep -r`` of the whole run directory (store, WAL, artifacts, logs) for the API key:
    never there, whether the candidates could not read it (isolated) or printed it (plain
    mode, where the harness masks it)."""
    run = request.getfixturevalue(RUNS[mode])
    found = subprocess.run(
        ["grep", "-rl", "--", SECRET, str(run.ctx.run_dir)], capture_output=True, text=True
    )
    assert found.returncode == 1 and not found.stdout, found.stdout
    leaked = run.nodes["read_secrets"]["feedback"]
    assert ("[REDACTED]" in leaked) == (mode == "none"), leaked


@pytest.mark.parametrize("adversary", adversaries("none"), ids=lambda a: a.name)
def test_adversary_is_contained_in_plain_mode(plain_run: HostileRun, adversary: Adversary) -> None:
    check_contained(plain_run, adversary)


def check_contained(run: HostileRun, adversary: Adversary) -> None:
    expected = adversary.plain if run.mode == "none" else adversary.isolated
    assert expected is not None
    node = run.nodes[adversary.name]
    described = f"{node['status']} [{node['error_class']}] {node['score']}\n{node['feedback']}"
    assert node["error_class"] == expected.error_class, described
    assert node["status"] == ("evaluated" if expected.error_class is None else "failed")
    assert node["score"] == expected.score, described
    assert expected.feedback in node["feedback"], described
    assert run.ctx.survivors[adversary.name] == [], run.ctx.survivors[adversary.name]
    if adversary.check is not None:
        adversary.check(run.ctx, node, run.mode)


# ----------------------------------------------------------------------------- the fixes
# What the run above found escaping, fixed in harness/sandbox/, each checked directly.
needs_cgroup = pytest.mark.skipif(CAP != "cgroup", reason="no writable pids cgroup here")


@pytest.fixture(
    params=[
        "none",
        pytest.param(
            "bwrap",
            marks=pytest.mark.skipif(not BWRAP_OK, reason="bubblewrap missing or its probe failed"),
        ),
        pytest.param(
            "namespace", marks=pytest.mark.skipif(not NS_OK, reason="user namespaces unusable")
        ),
    ]
)
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HARNESS_SANDBOX", request.param)
    return request.param


def run_direct(program: str, workdir: Path, **limits: Any) -> sandbox.CandidateRun:
    return sandbox.run_candidate(
        textwrap.dedent(program),
        "main",
        limits=sandbox.Limits(**{"timeout_s": 10, **limits}),
        workdir=workdir,
    )


@pytest.mark.skipif(CAP is None, reason="no process cap here (root without a pids cgroup)")
def test_forks_beyond_max_processes_are_refused(mode: str, tmp_path: Path) -> None:
    mark = f"{10**6 + secrets.randbelow(10**6)}.{secrets.randbelow(10**6)}"
    r = run_direct(
        f"""
        import os, subprocess

        def main():
            started = []
            for _ in range(40):
                try:
                    started.append(subprocess.Popen(["sleep", "{mark}"]).pid)
                except OSError:
                    break
            return len(started)
        """,
        tmp_path / "work",
        max_processes=8,
    )
    assert r.ok, r.feedback()
    assert 0 < r.value < 8  # bwrap and the runner count too
    assert not [p for p in candidate_processes(mark) if "sleep" in p]


@needs_cgroup
def test_a_fork_bomb_is_reported_as_such(mode: str, tmp_path: Path) -> None:
    r = run_direct(
        """
        import os

        def main():
            while True:
                os.fork()
        """,
        tmp_path / "work",
        max_processes=16,
        timeout_s=60,
    )
    assert r.error_class == "processes", r.feedback()
    assert r.error is not None and r.error.startswith("process limit exceeded (16 processes")
    # Stopped by the refused fork, not by the timeout: "processes" is reported either way,
    # so the timeout is long and the run must end in well under half of it.
    assert "timed out" not in r.error and r.seconds < 30, (r.error, r.seconds)


LINGER_TIMEOUT_S = 40


def test_a_candidate_lingering_after_returning_is_not_waited_for(mode: str, tmp_path: Path) -> None:
    """A candidate that returns but leaves a non-daemon thread and an atexit hook sleeping
    for an hour is done when main() returns: its result counts and nothing waits for the
    timeout. The timeout is long (LINGER_TIMEOUT_S), so a harness that waited for it would
    take at least that; a prompt one takes seconds even on a loaded machine."""
    r = run_direct(
        """
        import atexit, threading, time

        def main():
            threading.Thread(target=time.sleep, args=(3600,)).start()
            atexit.register(time.sleep, 3600)
            return 1.0
        """,
        tmp_path / "work",
        timeout_s=LINGER_TIMEOUT_S,
    )
    assert r.ok and r.value == 1.0, r.feedback()
    assert r.seconds < LINGER_TIMEOUT_S / 2, r.seconds


@needs_cgroup
def test_cgroup_kill_finds_what_left_the_session_without_a_subreaper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_SANDBOX", "none")
    monkeypatch.setattr(process, "_become_subreaper", lambda: False)
    mark = f"{10**6 + secrets.randbelow(10**6)}.{secrets.randbelow(10**6)}"
    r = run_direct(
        f"""
        import os

        def main():
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execvp("sleep", ["sleep", "{mark}"])
                os._exit(0)
            os.wait()
            return "escaped"
        """,
        tmp_path / "work",
    )
    assert r.ok and r.value == "escaped", r.feedback()
    assert not candidate_processes(mark)  # no grace: the cgroup was empty before it returned


@needs_cgroup
def test_cgroups_of_killed_workers_are_removed(tmp_path: Path) -> None:
    exited = subprocess.Popen(["true"])
    exited.wait()
    dead = exited.pid
    stale = CGROUP_PARENT / f"harness-{dead}-{secrets.token_hex(6)}"
    stale.mkdir()
    try:
        assert cgroup.cgroup_usable(CGROUP_PARENT)
        assert not stale.exists()
    finally:
        with contextlib.suppress(OSError):
            stale.rmdir()


def test_rlimit_fallback_counts_the_users_tasks() -> None:
    assert cgroup.user_tasks() >= threading.active_count()
    limits = sandbox.Limits()
    assert resource.RLIMIT_NPROC not in [res for res, _, _ in rlimits(limits)]
    assert (resource.RLIMIT_NPROC, 100, 100) in rlimits(limits, 100)


def test_hidden_dirs_never_include_system_dirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", "/")
    monkeypatch.chdir("/usr")
    monkeypatch.setenv("HARNESS_SANDBOX_HIDE", os.pathsep.join(["/etc", "relative", "/nope", ""]))
    assert set(sandbox.hidden_dirs()) <= {Path("/tmp"), Path("/run")}
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HARNESS_SANDBOX_HIDE", str(tmp_path / "link"))
    (tmp_path / "link").symlink_to(tmp_path)
    assert sandbox.hidden_dirs().count(tmp_path.resolve()) == 1


ISOLATED = [
    pytest.param("bwrap", marks=pytest.mark.skipif(not BWRAP_OK, reason="no usable bubblewrap")),
    pytest.param("namespace", marks=pytest.mark.skipif(not NS_OK, reason="no user namespaces")),
]


@pytest.mark.parametrize("isolated", ISOLATED)
def test_isolation_hides_home_cwd_run_and_listed_dirs(
    isolated: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = outside_tmp_root()
    try:
        dirs = {name: root / name for name in ("home", "project", "elsewhere")}
        for path in dirs.values():
            path.mkdir()
            (path / "secret.txt").write_text(SECRET)
        monkeypatch.setenv("HARNESS_SANDBOX", isolated)
        monkeypatch.setenv("HOME", str(dirs["home"]))
        monkeypatch.setenv("HARNESS_SANDBOX_HIDE", str(dirs["elsewhere"]))
        monkeypatch.chdir(dirs["project"])
        workdir = dirs["project"] / "work"  # where TMPDIR might be: inside a hidden directory
        r = run_direct(
            f"""
            import os, sys
            import numpy

            def main():
                seen = {{}}
                for path in {[str(p) for p in dirs.values()]!r} + ["/run"]:
                    try:
                        open(os.path.join(path, "new.txt"), "x").close()
                        made = "created"
                    except OSError as exc:
                        made = exc.strerror
                    seen[path] = [os.listdir(path), made]
                with open("inside.txt", "w") as fh:
                    fh.write("fine")
                return seen, os.path.isdir(sys.base_prefix), numpy.arange(3).tolist()
            """,
            workdir,
        )
        assert r.ok and r.sandboxed, r.feedback()
        seen, interpreter_visible, numbers = r.value
        assert interpreter_visible and numbers == [0, 1, 2]
        assert (workdir / "inside.txt").read_text() == "fine"
        assert seen.pop(str(dirs["project"])) == [["work"], "Read-only file system"]
        for path in dirs.values():
            assert seen.get(str(path), [[], "Read-only file system"]) == [
                [],
                "Read-only file system",
            ]
            assert "new.txt" not in os.listdir(path)
        assert seen["/run"] == [[], "Read-only file system"]
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("isolated", ISOLATED)
def test_a_run_directory_outside_the_working_directory_is_hidden_too(
    isolated: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop hides its run directory (``Limits.hidden``) while it runs, wherever it is."""
    from harness.testing.llm_server import FakeLLMServer

    run_dir = outside_tmp_root() / "elsewhere-run"
    probe = (
        "def f():\n"
        f"    try:\n        open({str(run_dir / 'harness.db')!r}, 'rb').read(16)\n"
        "        return 9.0\n    except OSError:\n        return 2.0\n"
    )
    monkeypatch.setenv("HARNESS_SANDBOX", isolated)
    monkeypatch.setenv("HARNESS_SANDBOX_HIDE", "")  # restored after the test
    try:
        with FakeLLMServer() as server:
            server.enqueue(toy_answer(probe, "peek"))
            openai_run(run_dir, server, "analyzer=none", "run.max_evaluations=2")
        assert os.environ["HARNESS_SANDBOX_HIDE"] == "", "restored when the run ends"
        node = store.get_node(store.open_db(run_dir), 1)
        assert node["score"] == 2.0, node["feedback"]
        assert store.get_node(store.open_db(run_dir), 0)["score"] == 1.5
    finally:
        shutil.rmtree(run_dir.parent, ignore_errors=True)
