"""Multi-file programs in the sandbox: the tree is written under the work dir, imported as
modules from there, and never written anywhere else."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness import sandbox
from harness.sandbox import CandidateRun, Limits, run_candidate
from harness.tree import HEADER, Tree

pytestmark = pytest.mark.isolation  # make test-sandbox runs it without bubblewrap too

FAST = Limits(timeout_s=20)
ISOLATED = [
    pytest.param(
        "bwrap", marks=pytest.mark.skipif(not sandbox.bwrap_available(), reason="no bwrap")
    ),
    pytest.param(
        "namespace",
        marks=pytest.mark.skipif(not sandbox.namespace_available(), reason="no namespaces"),
    ),
]

#: Two modules that import each other (``helpers`` reads ``pipeline.SCALE`` at call time),
#: and a package whose ``__init__`` imports its sibling module.
PACKAGE = {
    "pipeline.py": """
        import helpers
        from pkg import twice

        SCALE = 3

        def run(x):
            return {"value": twice(helpers.scaled(x)), "file": __file__}
        """,
    "helpers.py": """
        import pipeline

        def scaled(x):
            return x * pipeline.SCALE
        """,
    "pkg/__init__.py": "from pkg.ops import twice\n",
    "pkg/ops.py": "def twice(x):\n    return 2 * x\n",
}


def tree(files: dict[str, str]) -> Tree:
    return Tree.of({path: textwrap.dedent(text).lstrip() for path, text in files.items()})


def run(program: str, tmp_path: Path, entry: str = "pipeline:run", *args: object) -> CandidateRun:
    return run_candidate(program, entry, args=args, limits=FAST, workdir=tmp_path / "work")


@pytest.fixture(params=["none", *ISOLATED])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HARNESS_SANDBOX", request.param)
    return request.param


def test_modules_of_a_tree_import_each_other(mode: str, tmp_path: Path) -> None:
    r = run(tree(PACKAGE).text(), tmp_path, "pipeline:run", 5)
    assert r.ok and r.isolation == mode, r.feedback()
    assert r.value["value"] == 2 * 5 * 3
    work = (tmp_path / "work").resolve()
    assert r.value["file"] == str(work / "src" / "pipeline.py")
    written = sorted(p.relative_to(work / "src").as_posix() for p in (work / "src").rglob("*.py"))
    assert written == sorted(PACKAGE)


def test_entry_may_name_a_module_inside_a_package(mode: str, tmp_path: Path) -> None:
    r = run(tree(PACKAGE).text(), tmp_path, "pkg.ops:twice", 21)
    assert r.ok and r.value == 42, r.feedback()


def test_a_one_file_program_with_a_module_entry_is_that_module(tmp_path: Path) -> None:
    r = run("def run(x):\n    return x + 1\n", tmp_path, "pipeline:run", 1)
    assert r.ok and r.value == 2, r.feedback()


def test_a_broken_module_fails_naming_its_file(mode: str, tmp_path: Path) -> None:
    files = {**PACKAGE, "helpers.py": "import pipeline\n\ndef scaled(x)\n    return x\n"}
    r = run(tree(files).text(), tmp_path, "pipeline:run", 5)
    assert not r.ok and r.error_class == "syntax"
    assert 'File "helpers.py", line 3' in r.traceback, r.traceback
    assert str(tmp_path) not in r.traceback + (r.error or "")


def test_a_broken_module_imported_inside_the_entry_is_a_syntax_error_too(tmp_path: Path) -> None:
    files = {
        "main.py": "def run():\n    import late\n    return late.X\n",
        "late.py": "X = (\n",
    }
    r = run(tree(files).text(), tmp_path, "main:run")
    assert not r.ok and r.error_class == "syntax"
    assert 'File "late.py", line 1' in r.traceback, r.traceback
    evaluated = run(
        tree({"main.py": "def run():\n    exec('x = (')\n"}).text(), tmp_path, "main:run"
    )
    assert evaluated.error_class == "exception"  # a syntax error in a string, not in a file


def test_an_exception_in_a_module_has_its_traceback_by_tree_path(tmp_path: Path) -> None:
    files = {**PACKAGE, "pkg/ops.py": "def twice(x):\n    raise ValueError('no ' + str(x))\n"}
    r = run(tree(files).text(), tmp_path, "pipeline:run", 5)
    assert not r.ok and r.error_class == "exception"
    assert r.error == "ValueError: no 15"
    assert 'File "pipeline.py", line 7, in run' in r.traceback, r.traceback
    assert 'File "pkg/ops.py", line 2, in twice' in r.traceback, r.traceback


@pytest.mark.parametrize(
    ("entry", "text"),
    [
        ("main:run", "the program has no module 'main' (main.py or main/__init__.py)"),
        ("run", "a multi-file program needs an entry naming its module"),
        ("pipeline:missing", "module 'pipeline' defines no function 'missing'"),
    ],
)
def test_a_missing_module_or_function_is_a_missing_entry(
    tmp_path: Path, entry: str, text: str
) -> None:
    r = run(tree(PACKAGE).text(), tmp_path, entry)
    assert not r.ok and r.error_class == "missing_entry"
    assert text in (r.error or ""), r.error


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("#file 5 ../evil.py\nx = 1\n", "leaves the tree"),
        ("#file 5 /tmp/evil.py\nx = 1\n", "relative to the program's root"),
        ("#file 5 .hidden.py\nx = 1\n", "hidden file"),
        ("#file 5 a\nx = 1\n#file 5 a/b.py\nx = 1\n", "'a' is a file and a folder"),
        ("#file 99 pipeline.py\nx = 1\n", "cut short"),
    ],
)
def test_a_tree_path_cannot_escape_the_work_dir(tmp_path: Path, body: str, why: str) -> None:
    r = run(HEADER + body, tmp_path)
    assert not r.ok and r.error_class == "syntax"
    assert "file tree is malformed" in (r.error or "") and why in (r.error or ""), r.error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]
    assert not (tmp_path / "evil.py").exists() and not Path("/tmp/evil.py").exists()


def test_a_src_symlink_left_by_an_earlier_candidate_is_not_followed(
    mode: str, tmp_path: Path
) -> None:
    outside = tmp_path / "evaluator"
    outside.mkdir()
    plant = """
        import os

        def run(target):
            os.rename("src", "src-old")
            os.symlink(target, "src")
            return 1
        """
    first = run(tree({"pipeline.py": plant}).text(), tmp_path, "pipeline:run", str(outside))
    assert first.ok, first.feedback()
    second = run(tree(PACKAGE).text(), tmp_path, "pipeline:run", 1)
    assert second.ok and second.value["value"] == 6, second.feedback()
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "work" / "src").is_symlink()
