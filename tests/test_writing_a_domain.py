"""docs/writing-a-domain.md, followed to the letter: its files written and its commands run,
in the doc's order, in a fresh virtual environment, and the output it shows checked.

The doc's files are the fenced blocks preceded by ``<!-- file: PATH -->``; its commands are
the ``$`` lines of ```` ```console ```` blocks, each followed by the output it must print
(every shown line must appear, in order; ``...`` stands for lines left out, and a trailing
``...`` inside a line for the rest of it). A command carrying ``# not run by the test``
needs the network and is skipped, visibly: the marker must say what it needs.

The fresh environment has the doc's project and nothing of it elsewhere. It reaches harness
and its dependencies through a ``.pth`` that adds this test environment's site-packages (a
venv made from a venv with ``--system-site-packages`` would see the base interpreter's
instead), and pip is made offline: ``pip install`` runs as ``python -m pip install
--no-deps --no-build-isolation --no-index``. The install is a real wheel build, not an
editable one, so undeclared package data would fail here as it would for a user.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import chained_venv

DOC = Path(__file__).resolve().parents[1] / "docs" / "writing-a-domain.md"
NOT_RUN = "# not run by the test"
FILE_MARK = r"<!-- file: (?P<path>\S+) -->\n```[\w-]*\n(?P<body>.*?)```\n"
CONSOLE = r"```console\n(?P<console>.*?)```\n"
STEPS = re.compile(f"{FILE_MARK}|{CONSOLE}", re.DOTALL)
#: What makes ``pip install`` work offline against the test environment's packages.
OFFLINE_PIP = "python -m pip install --no-deps --no-build-isolation --no-index"


@dataclass
class Command:
    line: str
    expected: list[str]


@dataclass
class File:
    path: str
    body: str


def doc_steps(text: str) -> list[File | Command]:
    """The doc's files and commands, in its order."""
    steps: list[File | Command] = []
    for match in STEPS.finditer(text):
        if match["path"] is not None:
            steps.append(File(match["path"], match["body"]))
            continue
        block: list[Command] = []
        for line in match["console"].splitlines():
            if line.startswith("$ "):
                block.append(Command(line[2:].strip(), []))
            elif line.strip():
                assert block, f"output before any command in a console block: {line!r}"
                block[-1].expected.append(line.rstrip())
        steps += block
    return steps


def assert_shown(expected: list[str], output: str, command: str) -> None:
    """Each shown line appears in ``output`` after the previous one (``...`` skips lines;
    a line ending in ``...`` matches any line it starts)."""
    lines = [line.rstrip() for line in output.splitlines()]
    position = 0
    for want in expected:
        if want == "...":
            continue
        prefix = want.removesuffix("...") if want.endswith("...") else None
        for index in range(position, len(lines)):
            got = lines[index]
            if got == want or (prefix is not None and got.startswith(prefix)):
                position = index + 1
                break
        else:
            raise AssertionError(f"{command!r} did not print {want!r}; it printed:\n{output}")


@dataclass
class Sandbox:
    root: Path
    work: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    # Not under /tmp, which the sandbox replaces: candidates run this venv's interpreter.
    root = Path(tempfile.mkdtemp(prefix="harness-doc-", dir="/var/tmp")).resolve()
    try:
        chained_venv(root / "venv")
        work = root / "work"  # the reader's directory; the venv lies outside it
        work.mkdir()
        env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_PLUGINS", "PYTHONPATH")}
        env.update(
            PATH=f"{root / 'venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            HOME=str(root / "home"),
            PIP_DISABLE_PIP_VERSION_CHECK="1",
        )
        yield Sandbox(root, work, env)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_doc_marks_its_files_and_commands() -> None:
    text = DOC.read_text(encoding="utf-8")
    steps = doc_steps(text)
    files = [step.path for step in steps if isinstance(step, File)]
    assert "harness-golomb/pyproject.toml" in files
    assert text.count("<!-- file: ") == len(files), "a file marker without its code block"
    skipped = [s.line for s in steps if isinstance(s, Command) and NOT_RUN in s.line]
    assert any("twine upload" in line for line in skipped)
    assert all("needs" in line.split(NOT_RUN, 1)[1] for line in skipped), "say what it needs"


def test_following_the_doc_builds_installs_runs_and_tests_a_domain(sandbox: Sandbox) -> None:
    ran = []
    for step in doc_steps(DOC.read_text(encoding="utf-8")):
        if isinstance(step, File):
            target = sandbox.work / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.body, encoding="utf-8")
            continue
        if NOT_RUN in step.line:
            continue
        line = re.sub(r"^pip install\b", OFFLINE_PIP, step.line)
        result = subprocess.run(
            ["bash", "-c", line], cwd=sandbox.work, env=sandbox.env,
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{line!r} exited {result.returncode}:\n{output[-4000:]}"
        assert_shown(step.expected, output, line)
        ran.append(step.line.split()[:2])
    for wanted in (
        ["harness", "new-task"],
        ["pip", "install"],
        ["harness", "eval"],
        ["harness", "run"],
    ):
        assert wanted in ran, f"the doc no longer runs {' '.join(wanted)}"
    site = subprocess.run(
        ["python", "-c", "import harness_golomb; print(harness_golomb.__file__)"],
        cwd=sandbox.work, env=sandbox.env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(site).is_relative_to(sandbox.root / "venv"), "imported the source, not the wheel"
