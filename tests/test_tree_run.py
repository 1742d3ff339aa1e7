"""Multi-file programs through whole runs: path-addressed edits from a real HTTP endpoint
(the loopback server) and the offline proposer, on the three-file ``trio`` task
(tests/toy/harness_trio)."""

from __future__ import annotations

import itertools
import json
import os

from harness_trio import SEED

from harness import db as store
from harness.tree import Tree

PLUGINS = {"HARNESS_PLUGINS": f"{os.environ['HARNESS_PLUGINS']},harness_trio"}


def block(path: str, search: str, replace: str) -> str:
    return f"### FILE: {path}\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


GOOD = (
    "<name>both</name><motivation>wider, faster</motivation>\n"
    + block("pkg/model.py", "WIDTH = 4", "WIDTH = 8")
    + block("pkg/train.py", "LR = 0.1", "LR = 0.5")
)
READ_ONLY = "<name>data</name><motivation>m</motivation>\n" + block(
    "pkg/data.py", "SAMPLES = (1.0, 2.0, 3.0)", "SAMPLES = (9.0,)"
)


def test_a_path_addressed_edit_from_the_endpoint_becomes_the_nodes_tree(tmp_path, cli):
    from harness.testing.llm_server import FakeLLMServer

    answers = itertools.cycle([GOOD, READ_ONLY])

    def answer(request: dict) -> str:
        if "<analysis>" in json.dumps(request["messages"]):
            return "<analysis>The constants moved.</analysis>"
        return next(answers)

    run_dir = tmp_path / "run"
    with FakeLLMServer(default=answer) as server:
        result = cli(
            "run", "+task=trio", "llm=openai", f"llm.base_url={server.base_url}",
            "llm.model=m", "llm.max_retries=0", "run.max_evaluations=3", "run.workers=1",
            "run.buffer=0", f"hydra.run.dir={run_dir}", env={**PLUGINS, "OPENAI_API_KEY": "k"},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        prompts = [json.dumps(r["messages"]) for r in server.requests]
    researcher = [p for p in prompts if "<analysis>" not in p]
    assert "### FILE: pkg/model.py" in researcher[0] and "read-only context" in researcher[0]
    db = store.open_db(run_dir)
    nodes = {n["id"]: n for n in store.with_programs(db, list(db["nodes"].rows))}
    assert nodes[0]["program"] == SEED.text()
    expected = SEED.with_file("pkg/model.py", SEED["pkg/model.py"].replace("4", "8"))
    expected = expected.with_file("pkg/train.py", SEED["pkg/train.py"].replace("0.1", "0.5"))
    edited = [n for n in nodes.values() if n["program"] == expected.text()]
    assert len(edited) == 1 and edited[0]["score"] == 0.0, nodes
    refused = [n for n in nodes.values() if "pkg/data.py" in (n["feedback"] or "")]
    assert refused and "read-only" in refused[0]["feedback"], nodes
    assert all(
        Tree.parse(n["program"])["pkg/data.py"] == SEED["pkg/data.py"]
        for n in nodes.values()
        if n["program"]
    )


def test_the_offline_proposer_improves_a_tree_and_never_touches_read_only_files(tmp_path, cli):
    run_dir = tmp_path / "run"
    result = cli(
        "run", "+task=trio", "run.max_evaluations=50", "run.workers=2",
        f"hydra.run.dir={run_dir}", env=PLUGINS,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    db = store.open_db(run_dir)
    nodes = store.with_programs(db, list(db["nodes"].rows))
    programs = [Tree.parse(n["program"]) for n in nodes if n["program"]]
    assert len(programs) >= 40
    assert all(tree["pkg/data.py"] == SEED["pkg/data.py"] for tree in programs)
    assert all(
        tree["pkg/train.py"].startswith("from pkg import model\n\n# EVOLVE") for tree in programs
    )
    seed_score = next(n["score"] for n in nodes if n["id"] == 0)
    best = max(n["score"] for n in nodes if n["score"] is not None)
    assert best > seed_score, (seed_score, best)
