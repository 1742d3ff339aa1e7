"""The evolve loop end to end with the offline proposer and the real sandbox."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
from helpers import compose_config, run_loop

from harness import db as store
from harness.loop import Run
from harness.tasks import RunError


def test_offline_run_improves_on_the_seed(tmp_path):
    summary = run_loop(tmp_path, "+task=toy", "run.max_evaluations=16", "seed=1")
    assert summary["status"] == "finished"
    assert summary["evaluated"] == 16
    assert summary["seed_score"] == pytest.approx(1.5)
    assert summary["best_score"] > summary["seed_score"]
    db = store.open_db(tmp_path)
    nodes = list(db["nodes"].rows_where(order_by="id"))
    assert [n["id"] for n in nodes] == list(range(16))
    assert all(n["status"] in ("evaluated", "failed") for n in nodes)
    assert all(n["analysis"] for n in nodes), "the deterministic analyzer ran for every node"
    child = nodes[5]
    assert json.loads(child["parent_ids"]) and child["program_hash"]
    assert "Against node" in child["analysis"]
    assert (tmp_path / "best_program.py").read_text() == store.get_node(db, summary["best_node"])[
        "program"
    ]
    run = db["runs"].get(1)
    assert run["status"] == "finished" and "max_evaluations" in run["stop_reason"]
    assert "harness-toy" in run["plugin_versions"] or "harness_toy" in run["plugin_versions"]


def test_same_seed_same_run_with_one_worker(tmp_path):
    args = ("+task=toy", "run.max_evaluations=8", "run.workers=1", "seed=4")
    run_loop(tmp_path / "a", *args)
    run_loop(tmp_path / "b", *args)
    programs = [
        [r["program"] for r in store.open_db(tmp_path / d)["nodes"].rows_where(order_by="id")]
        for d in ("a", "b")
    ]
    assert programs[0] == programs[1]


def test_budgets_stop_the_run(tmp_path):
    summary = run_loop(tmp_path / "r", "+task=toy", "run.max_evaluations=null", "run.max_rounds=3")
    assert summary["nodes"] == 4 and "max_rounds" in summary["stop_reason"]
    summary = run_loop(
        tmp_path / "t", "+task=toy", "run.max_evaluations=300", "run.target_score=1.6"
    )
    assert summary["best_score"] >= 1.6 > summary["seed_score"]
    assert summary["evaluated"] < 300 and "target score" in summary["stop_reason"]
    # max_seconds: once it is reached no round starts (those in flight finish). Checked on
    # the rounds' own timestamps (a node row is inserted when its round starts), so a slow
    # machine changes how many rounds there are, not the verdict.
    summary = run_loop(
        tmp_path / "s",
        "+task=toy",
        "task.sleep_s=0.3",
        "run.max_evaluations=100",
        "run.max_seconds=1",
    )
    assert "max_seconds" in summary["stop_reason"] and summary["evaluated"] < 100
    db = store.open_db(tmp_path / "s")
    # started_at is stamped just after the loop's clock starts: a deadline no earlier than
    # the real one, so a round counted as late here really was.
    deadline = stamp(db["runs"].get(1)["started_at"]) + 1
    late = [
        (n["id"], stamp(n["created_at"]) - deadline)
        for n in db["nodes"].rows
        if stamp(n["created_at"]) > deadline
    ]
    assert late == [], f"rounds started after max_seconds (id, seconds late): {late}"


def stamp(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def test_cognition_items_are_retrieved_and_linked(tmp_path):
    run_loop(tmp_path, "+task=toy", "run.max_evaluations=5", "cognition.threshold=-1")
    db = store.open_db(tmp_path)
    assert db["cognition"].count == 2
    linked = [json.loads(r["cognition_ids"]) for r in db["nodes"].rows_where("id > 0")]
    assert any(linked)


def test_no_analyzer_ablation_stores_the_raw_evaluation_output(tmp_path):
    run_loop(tmp_path, "+task=toy", "run.max_evaluations=4", "analyzer=none")
    db = store.open_db(tmp_path)
    for row in db["nodes"].rows:
        assert row["analysis"].startswith("Raw evaluation output")
        assert row["feedback"] in row["analysis"]
        assert f"score {row['score']:.6g}" in row["analysis"]


def test_a_failing_seed_stops_the_run_with_a_clear_message(tmp_path, cli):
    summary = run_loop(tmp_path / "a", "+task=toy", "task.seed_program=broken", "run.max_rounds=2")
    node0 = store.get_node(store.open_db(tmp_path / "a"), 0)
    assert node0["status"] == "failed" and node0["error_class"] == "syntax"
    assert summary["status"] == "failed" and summary["nodes"] == 1, "no evolving from nothing"
    assert "seed program 'broken' failed" in summary["stop_reason"]
    assert "syntax" in summary["stop_reason"]
    result = cli("run", "+task=toy", "task.seed_program=broken", f"hydra.run.dir={tmp_path / 'c'}")
    assert result.returncode == 1, result.stderr
    assert "seed program 'broken' failed" in result.stderr and "Traceback" not in result.stderr


def test_unknown_seed_program_is_a_clear_error(tmp_path):
    cfg = compose_config("+task=toy", "task.seed_program=nope")
    with pytest.raises(RunError, match="Unknown seed program 'nope'.*Available: broken, seed"):
        Run(cfg, tmp_path)
    assert not (tmp_path / store.DB_NAME).exists()


def test_several_rounds_are_in_flight_at_once(tmp_path):
    run_loop(tmp_path, "+task=toy", "task.sleep_s=0.4", "run.workers=3", "run.max_evaluations=7")
    rows = list(store.open_db(tmp_path)["nodes"].rows_where("id > 0", order_by="id"))
    spans = [(r["created_at"], r["evaluated_at"]) for r in rows]
    overlapping = sum(1 for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1])
    assert overlapping >= 2, spans


def test_an_evaluator_that_fails_on_the_seed_stops_the_run(tmp_path):
    summary = run_loop(tmp_path, "+task=toy", "task.fault=raise", "run.max_evaluations=20")
    assert summary["status"] == "failed" and summary["nodes"] == 1
    assert "evaluator failed on the seed" in summary["stop_reason"]


@pytest.mark.parametrize("override", ["run.workers=0", "run.context_nodes=0"])
def test_nonsense_run_settings_are_refused(tmp_path, override):
    with pytest.raises(RunError, match="at least 1"):
        Run(compose_config("+task=toy", override), tmp_path)


@pytest.mark.parametrize(
    "override",
    [
        "run.max_evaluations=-1",
        "run.max_seconds=-5",
        "run.max_seconds=0",
        "task.timeout_s=0",
        "task.timeout_s=-1",
        "task.memory_mb=1",
        "run.workers=0",
    ],
)
def test_out_of_range_settings_are_refused_naming_the_key(tmp_path, override):
    key = override.split("=")[0]
    with pytest.raises(RunError, match=rf"{re.escape(key)}=\S+ is out of range: it must be"):
        Run(compose_config("+task=toy", override), tmp_path / "run")
    assert not (tmp_path / "run").exists()
