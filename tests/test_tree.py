"""Multi-file programs (harness.tree): one canonical text per tree, checked paths, diffs."""

from __future__ import annotations

import random
import subprocess

import pytest

from harness.canonical import canonical_hash
from harness.tree import HEADER, FileRule, Tree, TreeError, check_path, is_tree, policy_of

#: File texts that would break a delimiter-based format.
HOSTILE = ["", "\n", "#file 3 x.py\n", HEADER, "no newline", "é\u2028\r\n", "#file 99 y\nzz"]


def test_text_round_trips_whatever_the_files_hold() -> None:
    rng = random.Random(7)
    for _ in range(200):
        files = {
            f"d{rng.randrange(3)}/f{i}.py": "".join(rng.choice(HOSTILE) for _ in range(3))
            for i in range(rng.randrange(1, 5))
        }
        tree = Tree.of(files)
        text = tree.text()
        assert is_tree(text)
        assert Tree.parse(text) == tree
        assert dict(Tree.parse(text)) == files


def test_text_is_canonical_whatever_the_order_given() -> None:
    files = {"b.py": "b", "a/c.py": "c", "a.py": "a"}
    shuffled = list(files.items())
    random.Random(1).shuffle(shuffled)
    assert Tree.of(shuffled).text() == Tree.of(files).text()
    assert list(Tree.of(shuffled)) == ["a.py", "a/c.py", "b.py"]


def test_a_one_file_program_is_a_tree_of_one_file() -> None:
    assert not is_tree("print(1)\n")
    assert dict(Tree.parse("print(1)\n", single="main.py")) == {"main.py": "print(1)\n"}


@pytest.mark.parametrize(
    "text",
    [
        HEADER + "#file 5 a.py\nabc\n",  # cut short
        HEADER + "#file 3 a.py\nabcd\n",  # not followed by a newline
        HEADER + "#file x a.py\nabc\n",  # no size
        HEADER + "#file 3 ../a.py\nabc\n",  # leaves the tree
        HEADER + "#file 1 a.py\na\n#file 1 a.py\nb\n",  # twice
        HEADER,  # no file
    ],
)
def test_malformed_text_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(TreeError):
        Tree.parse(text)


@pytest.mark.parametrize("path", ["", "/etc/passwd", "../x", "a/../../x", ".git/config", "a\\b"])
def test_paths_that_leave_the_tree_or_hide_are_refused(path: str) -> None:
    with pytest.raises(TreeError):
        check_path(path)


def test_paths_are_normalised() -> None:
    assert check_path("a/./b//c.py") == "a/b/c.py"
    assert Tree.of({"./x.py": "1"}).files == (("x.py", "1"),)


def test_read_and_write_materialise_the_same_tree(tmp_path) -> None:
    tree = Tree.of({"pkg/__init__.py": "", "pkg/model.py": "W = 1\n", "run.py": "import pkg\n"})
    tree.write(tmp_path / "out")
    (tmp_path / "out" / "pkg" / "__pycache__").mkdir()
    (tmp_path / "out" / "pkg" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "out" / ".hidden").write_text("x")
    assert Tree.read(tmp_path / "out") == tree


def test_diff_is_one_that_patch_applies(tmp_path) -> None:
    parent = Tree.of({"a.py": "x = 1\ny = 2\n", "b.py": "keep\n", "gone.py": "old\n"})
    child = parent.with_file("a.py", "x = 1\ny = 3\n").with_file("gone.py", None)
    child = child.with_file("new/c.py", "fresh")
    assert child.changed(parent) == ["a.py", "gone.py", "new/c.py"]
    parent.write(tmp_path)
    diff = child.diff(parent)
    done = subprocess.run(["git", "apply", "-"], input=diff, text=True, cwd=tmp_path)
    assert done.returncode == 0
    assert Tree.read(tmp_path) == child


def test_canonical_hash_of_a_tree_ignores_comments_per_file_but_not_paths() -> None:
    tree = Tree.of({"a.py": "x = 1\n", "notes.txt": "hello\n"})
    commented = tree.with_file("a.py", "x = 1  # why\n")
    moved = Tree.of({"b.py": "x = 1\n", "notes.txt": "hello\n"})
    retexted = tree.with_file("notes.txt", "hello  # not python\n")
    assert canonical_hash(commented.text()) == canonical_hash(tree.text())
    assert canonical_hash(moved.text()) != canonical_hash(tree.text())
    assert canonical_hash(retexted.text()) != canonical_hash(tree.text())


def test_canonical_hash_of_a_malformed_tree_is_that_of_its_text() -> None:
    """A proposal that starts with the header but breaks a length prefix must not stop the
    run at dedupe: it is hashed as text, and fails its evaluation."""
    text = Tree.of({"a.py": "x = 1\n"}).text().replace("x = 1", "x = 1.25")
    other = text.replace("1.25", "1.5")
    assert canonical_hash(text) != canonical_hash(other)
    assert canonical_hash(text) == canonical_hash(text)


def test_policy_is_the_first_matching_rule() -> None:
    rules = (FileRule("model/layer.py"), FileRule("model/*", "read_only"), FileRule("*.yaml"))
    assert policy_of("model/layer.py", rules) == "evolve"
    assert policy_of("model/config.py", rules) == "read_only"
    assert policy_of("train.py", rules, default="blocks") == "blocks"
    with pytest.raises(ValueError, match="policy"):
        FileRule("x", "frozen")  # type: ignore[arg-type]
