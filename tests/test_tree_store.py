"""Multi-file programs in the run store (harness.db.programs): each file text once, a tree
as its difference from a full base, the text read back exactly; real runs of a 50-file
seed (the benchmarks' ``bench`` task with ``task.files``, ``llm=instant`` editing one line
of one file a round) stay under twice the store of a one-file seed, dedupe a tree that
differs only in a comment, and a store made before the migration resumes."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest
import yaml
from helpers import compose_config, registered
from starlette.testclient import TestClient
from test_scale import BENCHMARKS, _Bench, bench, harness_bench  # noqa: F401 - bench: a fixture

from harness import db as store
from harness import hookimpl, plugins
from harness.llm.base import Proposal, ProposalRequest
from harness.loop import Run
from harness.nodes import Node
from harness.tree import HEADER, Tree
from harness.web import queries
from harness.web.app import create_app
from harness.web.report import build

pytestmark = pytest.mark.usefixtures("bench")


def _tree(files: int = 50) -> Tree:
    return Tree.parse(harness_bench.seed_of(files))


def _chain(db, trees: list[Tree]) -> None:
    """Commit ``trees`` as a lineage: node ``i``'s parent is node ``i - 1``."""
    for i, tree in enumerate(trees):
        parents = [i - 1] if i else []
        store.commit(db, Node(i, parent_ids=parents, program=tree.text(), status="evaluated"))


def test_a_tree_is_stored_once_per_file_text_and_read_back_exactly(tmp_path):
    db = store.open_db(tmp_path)
    trees = [_tree()]
    for i in range(1, 40):  # one line of one file a node; file 3 removed, then one added
        tree = trees[-1]
        path = list(tree)[i % len(tree)]
        tree = tree.with_file(path, tree[path] + f"X = {i}\n")
        if i == 20:
            tree = tree.with_file(list(tree)[3], None).with_file("pkg/new.py", "NEW = 1\n")
        trees.append(tree)
    _chain(db, trees)

    for i, tree in enumerate(trees):
        assert store.read_node(db, i).program == tree.text()
    distinct = {text for tree in trees for _, text in tree.files}
    assert db.execute("select count(*) from blobs").fetchone()[0] == len(distinct)
    assert db.execute("select count(*) from nodes where program is not null").fetchone()[0] == 0
    rows = db.execute("select id, base, entries from trees order by id").fetchall()
    bases = {tree_id: base for tree_id, base, _ in rows}
    assert all(bases[base] is None for base in bases.values() if base is not None)
    deltas = [entries for _, base, entries in rows if base is not None]
    assert deltas and max(len(e) for e in deltas) < min(len(e) for _, b, e in rows if b is None)
    assert len(rows) < len(trees) // 2 + len(deltas) + 1  # full trees are the exception

    # Readers that take the text by SQL get it through the store too.
    assert store.program_of(db, 7) == trees[7].text()
    assert store.node_programs(db, "id in (1, 2)") == [(1, trees[1].text()), (2, trees[2].text())]
    assert store.programs_for_features(db, 2)[0] == trees[0].text()


def test_a_tree_already_stored_is_not_stored_again(tmp_path):
    db = store.open_db(tmp_path)
    tree = _tree(5)
    _chain(db, [tree, tree.with_file("pkg/mod_001.py", "A = 1\n")])
    store.commit(db, Node(2, parent_ids=[0], program=tree.text(), status="duplicate"))
    store.commit(
        db, Node(1, parent_ids=[0], program=tree.with_file("pkg/mod_001.py", "A = 1\n").text())
    )
    assert db.execute("select count(*) from trees").fetchone()[0] == 2
    assert db.execute("select count(*) from blobs").fetchone()[0] == 6
    assert store.read_node(db, 2).program == tree.text()


@pytest.mark.parametrize(
    "program",
    [
        f"{HEADER}#file 5 b.py\nB = 1\n#file 5 a.py\nA = 1\n",  # out of path order
        f"{HEADER}#file 99 a.py\nA = 1\n",  # cut short
        f"{HEADER}#file 5 ../x.py\nA = 1\n",  # a path out of the tree
    ],
)
def test_a_text_that_only_looks_like_a_tree_is_kept_as_it_came(tmp_path, program):
    db = store.open_db(tmp_path)
    store.commit(db, Node(0, program=program, status="failed"))
    assert store.read_node(db, 0).program == program
    assert db.execute("select count(*) from trees").fetchone()[0] == 0


def _args(nodes: int, files: int, *extra: str) -> list[str]:
    return [
        "+task=bench",
        f"task.files={files}",
        "llm=instant",
        f"run.max_evaluations={nodes}",
        "run.workers=1",
        "analyzer=none",
        *extra,
    ]


def _run(run_dir: Path, args: list[str], resume: bool = False) -> None:
    asyncio.run(Run(compose_config(*args), run_dir, args, resume=resume).execute())


def _size(run_dir: Path, to: Path) -> int:
    """The store's size in bytes, compacted (``VACUUM INTO`` a copy)."""
    conn = sqlite3.connect(run_dir / store.DB_NAME)
    conn.execute("vacuum into ?", [str(to)])
    conn.close()
    return to.stat().st_size


@pytest.fixture(scope="module")
def tree_runs(tmp_path_factory) -> Path:
    """Real runs of 200 nodes (one line edited a round): ``trees`` (a 50-file seed) and
    ``single`` (a one-file seed of one such module); ``bench``'s set-up, module-scoped."""
    top = tmp_path_factory.mktemp("tree_runs")
    plugins.load_plugins()
    with pytest.MonkeyPatch.context() as patch, registered(_Bench(), "harness_bench"):
        patch.setenv("HARNESS_PLUGINS", "harness_bench")
        patch.setenv("PYTHONPATH", os.pathsep.join([str(BENCHMARKS), os.environ["PYTHONPATH"]]))
        for name, files in (("trees", 50), ("single", 1)):
            _run(top / name, _args(200, files))
    return top


def test_a_50_file_run_stores_under_twice_a_one_file_run(tree_runs, tmp_path):
    trees = store.open_db(tree_runs / "trees", migrate=False)
    programs = dict(store.node_programs(trees))
    assert len(programs) == 200 and store.summary(trees)["evaluated"] == 200
    for node_id in range(1, 200):
        node = store.read_node(trees, node_id)
        changed = Tree.parse(node.program).changed(Tree.parse(programs[node.parent_ids[0]]))
        assert changed == [list(_tree())[node_id % 50]], node_id
    single = store.open_db(tree_runs / "single", migrate=False)
    assert store.summary(single)["evaluated"] == 200
    sizes = {name: _size(tree_runs / name, tmp_path / f"{name}.db") for name in ("trees", "single")}
    assert sizes["trees"] < 2 * sizes["single"], sizes
    # A copy of the 50 files a node would be over 45 KB a node: the files are shared.
    assert sizes["trees"] < 200 * 5_000, sizes


class _Commenting:
    """Every other round, the parent with a comment added to one of its files (a canonical
    duplicate of the parent); the other rounds, ``llm=instant``'s one-line edit."""

    name = model = "commenting"

    def __init__(self, config) -> None:
        self.config = config

    async def propose(self, request: ProposalRequest) -> Proposal:
        parent = request.parent.program
        if request.node_id % 2:
            program = harness_bench.next_round(parent, request.node_id)
        else:
            tree = Tree.parse(parent)
            path = list(tree)[request.node_id % len(tree)]
            program = tree.with_file(path, tree[path] + f"# a comment, {request.node_id}\n").text()
        return Proposal(f"c-{request.node_id}", "test", program, edit="full")

    async def analyze(self, request):
        raise AssertionError("analyzer=none")

    async def aclose(self) -> None:
        return None


class _CommentingPlugin:
    @hookimpl
    def harness_register_proposers(self, register):
        register("commenting", _Commenting)


def test_trees_that_differ_only_in_a_comment_are_deduped_in_a_run(tmp_path):
    args = _args(12, 6, "llm.name=commenting")  # llm=instant's settings, this proposer
    with registered(_CommentingPlugin(), "commenting"):
        _run(tmp_path, args)
    db = store.open_db(tmp_path, migrate=False)
    duplicates = db.execute(
        "select id, duplicate_of from nodes where status = 'duplicate' order by id"
    ).fetchall()
    assert duplicates and all(node_id % 2 == 0 for node_id, _ in duplicates)
    for node_id, original in duplicates:
        node, first = store.read_node(db, node_id), store.read_node(db, original)
        assert node.program != first.program and node.program_hash == first.program_hash
        assert "# a comment" in node.program  # stored as proposed, comment and all


def _downgrade_to_m012(path: Path) -> None:
    """The store as the migrations before m013 leave it: no ``tree_id``, ``blobs``, ``trees``
    (a one-file run stores its programs the same way in both)."""
    conn = sqlite3.connect(path)
    assert conn.execute("select count(*) from nodes where tree_id is not null").fetchone()[0] == 0
    conn.executescript(
        "alter table nodes drop column tree_id; drop table blobs; drop table trees;"
        " delete from _sqlite_migrations where name = 'm013_program_trees';"
    )
    conn.close()


def test_a_one_file_store_made_before_m013_migrates_and_resumes(tmp_path):
    run_dir = tmp_path / "run"
    _run(run_dir, _args(30, 1))
    _downgrade_to_m012(run_dir / store.DB_NAME)
    old = store.open_db(run_dir, migrate=False)
    assert "tree_id" not in old["nodes"].columns_dict and not old["trees"].exists()
    before = dict(old.execute("select id, program from nodes"))
    assert store.node_programs(old) == sorted(before.items())  # read unmigrated, too
    old.close()

    _run(run_dir, _args(60, 1), resume=True)
    db = store.open_db(run_dir, migrate=False)
    assert [m.name for m in store.migrations.applied(db)][-1] == "m013_program_trees"
    assert {i: store.read_node(db, i).program for i in before} == before
    assert store.summary(db)["evaluated"] == 60
    assert db.execute("select count(*) from trees").fetchone()[0] == 0


# ------------------------------------------------------------------------------ web view
def test_a_tree_node_page_shows_its_changed_files_and_collapses_the_rest(tree_runs, tmp_path):
    client = TestClient(create_app(tree_runs))
    seed = _tree()
    page = client.get("/run/trees/node/7").text
    db = store.open_db(tree_runs / "trees", migrate=False)
    parent = store.read_node(db, 7).parent_ids[0]
    edited = list(seed)[7 % 50]
    assert page.count('<li class="file ') == 50
    assert f'<li class="file changed" data-path="{edited}">' in page
    assert page.count('<li class="file unchanged"') == 49
    diffs = page.split('id="diff"')[1].split('id="program"')[0]
    assert diffs.count('class="file-diff"') == 1 and f'data-path="{edited}"' in diffs
    assert '<span class="line add">+ROUND = 7\n' in diffs
    assert '<span class="line del">-ROUND = ' in diffs
    assert f"against node {parent}" in page
    assert page.count('<details class="file"') == 50
    assert page.count('<details class="file" data-path') - page.count(" open>") == 49
    # The patch applies to the parent's files as the node's.
    patch = Tree.parse(store.read_node(db, 7).program).diff(
        Tree.parse(store.program_of(db, parent))
    )
    assert patch.splitlines()[0] == f"--- a/{edited}"
    seed_page = client.get("/run/trees/node/0").text
    assert "The seed: no parent to compare with." in seed_page
    assert seed_page.count('<li class="file seed"') == 50

    single = client.get("/run/single/node/7").text  # a one-file run's page as before
    assert '<pre id="diff">' in single and 'id="files"' not in single
    assert '<span class="line add">+ROUND = 7</span>' in single.replace("\n</span>", "</span>")

    html = build(tree_runs)  # harness report: the same node pages, in one file
    assert html.count('class="file-diff"') >= 1 and 'class="file changed"' in html


def test_file_changes_name_added_removed_and_changed_files():
    before = Tree.of({"a.py": "A = 1\n", "b.py": "B = 1\n", "c.py": "C = 1\n"})
    after = before.with_file("a.py", "A = 2\n").with_file("b.py", None).with_file("d.py", "D\n")
    files = queries.file_changes(before.text(), after.text())
    assert [(f["path"], f["status"]) for f in files] == [
        ("a.py", "changed"), ("b.py", "removed"), ("c.py", "unchanged"), ("d.py", "added")
    ]  # fmt: skip
    kinds = {f["path"]: [kind for kind, _ in f["diff"]] for f in files}
    assert kinds == {
        "a.py": ["hunk", "del", "add"], "b.py": ["hunk", "del"], "c.py": [], "d.py": ["hunk", "add"]
    }  # fmt: skip
    one_file = queries.file_changes("A = 1\n", after.text())  # a one-file parent
    assert [(f["path"], f["status"]) for f in one_file] == [
        ("a.py", "added"), ("c.py", "added"), ("d.py", "added"), ("program.py", "removed")
    ]  # fmt: skip


def test_the_datasette_query_node_files_lists_a_trees_files(tree_runs):
    sql = yaml.safe_load(store.datasette_metadata_path().read_text())["databases"]["harness"]
    query = sql["queries"]["node_files"]["sql"]
    db = store.open_db(tree_runs / "trees", migrate=False)
    for node_id in (0, 7, 150, 199):
        rows = db.execute(query, {"node": node_id}).fetchall()
        assert rows == list(Tree.parse(store.program_of(db, node_id)).files), node_id
    assert db.execute(query, {"node": 10_000}).fetchall() == []


def test_export_hands_out_a_trees_text_and_its_parents(tree_runs):
    from harness import export

    found = export.runs([tree_runs / "trees"])
    rows = {r["node_id"]: r for r in export.records(found, all_nodes=True)}
    db = store.open_db(tree_runs / "trees", migrate=False)
    assert len(rows) == 200
    for node_id in (0, 9, 199):
        node = store.read_node(db, node_id)
        assert rows[node_id]["program"] == node.program and node.program.startswith(HEADER)
        parent = node.parent_ids[0] if node.parent_ids else None
        expected = store.program_of(db, parent) if parent is not None else None
        assert rows[node_id]["parent_program"] == expected
