"""The pareto sampler: its front against a brute-force oracle, minimised and missing
objectives, per-instance fronts, seeded and resumable selection, and a real run whose
status shows the front and whose resume keeps it."""

from __future__ import annotations

import asyncio
import json
import math
import random
import re

import pytest
from helpers import compose_config

from harness import db as store
from harness import plugins
from harness.loop import Run
from harness.samplers.base import Candidate, Selection
from harness.samplers.pareto import ParetoSampler, dominates

PLUGINS = {"HARNESS_PLUGINS": "harness_toy,harness_pareto_toy"}


def oracle_front(nodes, objectives):
    """The non-dominated successful nodes, by an O(n^2) scan written apart from the
    sampler: each objective maximised (``-name`` minimised), missing or non-finite = worst."""

    def value(node, name):
        metric, sign = (name[1:], -1) if name.startswith("-") else (name, 1)
        raw = node.score if metric == "score" else node.metrics.get(metric)
        ok = isinstance(raw, (int, float)) and math.isfinite(raw)
        return sign * raw if ok else -math.inf

    eligible = [n for n in nodes if n.success and n.score is not None]
    vec = {n.id: [value(n, name) for name in objectives] for n in eligible}

    def beats(a, b):
        return all(x >= y for x, y in zip(a, b, strict=True)) and any(
            x > y for x, y in zip(a, b, strict=True)
        )

    return (
        sorted(n.id for n in eligible if not any(beats(vec[m.id], vec[n.id]) for m in eligible)),
        vec,
        beats,
    )


def stream(rng, size):
    """Random nodes: coarse values (so ties happen), some failures, some missing metrics."""
    nodes = []
    for node_id in range(size):
        if rng.random() < 0.15:
            nodes.append(Candidate(node_id, None, False))
            continue
        metrics = {name: rng.randint(0, 4) for name in ("a", "b", "cost")}
        if rng.random() < 0.1:
            del metrics[rng.choice(["a", "b", "cost"])]
        if rng.random() < 0.05:
            metrics["a"] = float("nan")
        nodes.append(Candidate(node_id, float(rng.randint(0, 3)), True, metrics=metrics))
    return nodes


@pytest.mark.parametrize("objectives", [["score"], ["a", "b"], ["a", "-cost", "score"]])
def test_the_front_is_exactly_the_non_dominated_nodes_whatever_the_order(objectives):
    for seed in range(60):
        rng = random.Random(seed)
        nodes = stream(rng, rng.randint(1, 60))
        expected, vec, beats = oracle_front(nodes, objectives)
        sampler = ParetoSampler({"objectives": objectives}, 0)
        for node in nodes:
            sampler.observe(node)
        assert sampler.front == expected, seed
        for a in sampler.front:  # the oracle's own properties, checked on the kept front
            assert not any(beats(vec[b], vec[a]) for b in sampler.front)
        for node_id in set(vec) - set(sampler.front):
            assert any(beats(vec[m], vec[node_id]) for m in sampler.front)
        shuffled = ParetoSampler({"objectives": objectives}, 0)
        for node in rng.sample(nodes, len(nodes)):
            shuffled.observe(node)
        assert shuffled.front == expected, seed


def test_a_minimised_objective_prefers_the_lower_value():
    nodes = [
        Candidate(0, 1.0, True, metrics={"cost": 5}),
        Candidate(1, 1.0, True, metrics={"cost": 2}),
        Candidate(2, 2.0, True, metrics={"cost": 9}),
    ]
    sampler = ParetoSampler({"objectives": ["score", "-cost"]}, 0)
    for node in nodes:
        sampler.observe(node)
    assert sampler.front == [1, 2]  # 0 is as good as 1 on score and costs more
    maximised = ParetoSampler({"objectives": ["score", "cost"]}, 0)
    for node in nodes:
        maximised.observe(node)
    assert maximised.front == [2]
    both = ParetoSampler({"objectives": ["cost", "-cost"]}, 0)
    for node in nodes:
        both.observe(node)
    assert both.front == [0, 1, 2], "one metric, both ways: nobody dominates"


def test_failed_nodes_never_enter_and_a_missing_metric_counts_as_the_worst(caplog):
    sampler = ParetoSampler({"objectives": ["a", "b"]}, 0)
    sampler.observe(Candidate(0, None, False))  # failed: no score, no metrics
    sampler.observe(Candidate(1, 1.0, True, metrics={"a": 1.0, "b": 1.0}))
    sampler.observe(Candidate(2, 1.0, True, metrics={"a": 3.0}))  # no b: best on a only
    sampler.observe(Candidate(3, 1.0, True, metrics={"b": 0.5}))  # no a: dominated by 1
    assert sampler.front == [1, 2]
    assert sampler.select(3).ids[0] in (1, 2)
    assert "no finite metric 'b'" in caplog.text and "no finite metric 'a'" in caplog.text
    assert dominates({"a": 1.0}, {}) and not dominates({}, {}) and not dominates({"a": 1}, {"b": 1})


@pytest.mark.parametrize("cases", [[3, 1], {"x": 3, "y": 1}])
def test_per_instance_scores_are_one_objective_each(cases):
    keys = list(cases) if isinstance(cases, dict) else [0, 1]
    swapped = dict(zip(keys, [1, 3], strict=True)) if isinstance(cases, dict) else [1, 3]
    equal = dict(zip(keys, [2, 2], strict=True)) if isinstance(cases, dict) else [2, 2]
    worse = dict(zip(keys, [1, 1], strict=True)) if isinstance(cases, dict) else [1, 1]
    sampler = ParetoSampler({"objectives": [], "instances": "cases"}, 0)
    for node_id, value in enumerate([cases, swapped, equal, worse]):
        sampler.observe(Candidate(node_id, 0.0, True, metrics={"cases": value}))
    assert sampler.front == [0, 1, 2]
    coverage = ParetoSampler({"objectives": [], "instances": "cases", "selection": "coverage"}, 1)
    for node_id, value in enumerate([cases, swapped, equal, worse]):
        coverage.observe(Candidate(node_id, 0.0, True, metrics={"cases": value}))
    assert coverage.coverage() == [1, 1, 0]  # node 2 is best on no instance
    assert {coverage.select(1).ids[0] for _ in range(50)} == {0, 1}


def test_selections_come_from_the_front_are_seeded_and_weighted_by_rarity():
    nodes = [
        Candidate(i, float(i % 4), True, metrics={"a": i % 4, "b": 3 - i % 4}) for i in range(12)
    ]
    draws = []
    for seed in (5, 5, 6):
        sampler = ParetoSampler({"objectives": ["a", "b"]}, seed)
        for node in nodes:
            sampler.observe(node)
        draws.append([sampler.select(3).ids for _ in range(20)])
        for ids in draws[-1]:
            assert set(ids) <= set(sampler.front) and len(ids) == len(set(ids)) == 3
    assert draws[0] == draws[1] != draws[2]
    rare = ParetoSampler({"objectives": ["a", "b"], "selection": "rarity"}, 0)
    for node in nodes[:2]:  # a front of two
        rare.observe(node)
    for _ in range(9):
        rare.replay(Selection([0, 1]))
    assert rare.weights() == [pytest.approx(0.1), 1.0]
    parents = [rare.select(1).ids[0] for _ in range(20)]
    assert rare.chosen == {0: 9 + parents.count(0), 1: parents.count(1)}
    assert parents.count(0) < parents.count(1) and abs(rare.chosen[0] - rare.chosen[1]) <= 3
    with pytest.raises(ValueError, match="selection uniform"):
        ParetoSampler({"selection": "best"}, 0)
    with pytest.raises(ValueError, match="objectives or instances"):
        ParetoSampler({"objectives": []}, 0)


@pytest.mark.parametrize("selection", ["uniform", "coverage", "rarity"])
def test_a_restored_sampler_continues_exactly(selection):
    nodes = stream(random.Random(7), 40)
    config = {"objectives": ["a", "-cost"], "selection": selection}
    sampler = ParetoSampler(config, 3)
    for node in nodes[:25]:
        sampler.observe(node)
    selections = [sampler.select(3) for _ in range(6)]
    state = json.loads(json.dumps(sampler.state()))
    assert state["front"] == sampler.front and state["objectives"] == ["a", "-cost"]
    clone = ParetoSampler(config, 99)
    for node in nodes[:25]:
        clone.observe(node)
    for chosen in selections:
        clone.replay(chosen)
    clone.load_state(state)
    for node in nodes[25:]:
        sampler.observe(node)
        clone.observe(node)
        assert clone.select(3) == sampler.select(3)


# ------------------------------------------------------------------ a real run


def brute_force_front(run_dir, objectives):
    db = store.open_db(run_dir)
    nodes = [
        Candidate(
            row["id"],
            row["score"],
            bool(row["success"]),
            metrics=json.loads(row["metrics"] or "{}"),
        )
        for row in db["nodes"].rows_where("status = 'evaluated'", order_by="id")
    ]
    return oracle_front(nodes, objectives)[0]


def status(cli, run_dir, text=True):
    """``harness status --json`` of the run; with ``text``, also checks the text's line."""
    listed = json.loads(cli("status", str(run_dir), "--json", env=PLUGINS).stdout)
    if text:
        shown = cli("status", str(run_dir), env=PLUGINS)
        assert shown.returncode == 0, shown.stderr
        found = re.search(r"^pareto front: (\d+) nodes \[([\d, ]*)\]$", shown.stdout, re.M)
        assert found, shown.stdout
        assert [int(i) for i in found[2].split(", ")] == listed["pareto_front"]
        assert int(found[1]) == len(listed["pareto_front"])
    return listed


def test_a_real_run_shows_its_front_and_a_resume_continues_with_it(tmp_path, cli):
    run_dir = tmp_path / "run"
    args = ("+task=pareto_toy", "sampler=pareto", "sampler.objectives=[a,b]", "run.workers=1")
    first = cli("run", *args, "run.max_evaluations=30", f"hydra.run.dir={run_dir}", env=PLUGINS)
    assert first.returncode == 0, first.stderr
    summary = status(cli, run_dir)
    assert summary["evaluated"] == 30 and summary["failed"] > 0  # out-of-range pairs fail
    front = brute_force_front(run_dir, ["a", "b"])
    assert summary["pareto_front"] == front and len(front) > 1
    rows = list(store.open_db(run_dir)["nodes"].rows_where("id > 0"))
    assert {json.loads(r["parent_ids"])[0] for r in rows} - {0}, "the front moved past the seed"
    last = max(r["id"] for r in rows)

    resumed = cli("resume", str(run_dir), "run.max_evaluations=34", env=PLUGINS)
    assert resumed.returncode == 0, resumed.stderr
    after = status(cli, run_dir, text=False)
    assert after["evaluated"] == 34
    assert after["pareto_front"] == brute_force_front(run_dir, ["a", "b"])
    (first_new, *_) = store.open_db(run_dir)["nodes"].rows_where("id > ?", [last], order_by="id")
    assert json.loads(first_new["parent_ids"])[0] in front, "it drew from the front it had"


@pytest.fixture
def pareto_toy(monkeypatch):
    """The two-objective toy task loaded in this process and in its evaluation workers."""
    monkeypatch.setenv("HARNESS_PLUGINS", PLUGINS["HARNESS_PLUGINS"])
    plugins.reset()
    yield
    monkeypatch.undo()
    plugins.reset()


def test_a_resumed_run_makes_the_selections_an_uninterrupted_one_makes(tmp_path, pareto_toy):
    args = ["+task=pareto_toy", "sampler=pareto", "sampler.objectives=[a,-b]",
            "sampler.selection=rarity", "run.workers=1"]  # fmt: skip

    def execute(run_dir, budget, resume=False):
        overrides = [*args, f"run.max_evaluations={budget}"]
        run = Run(compose_config(*overrides), run_dir, overrides, resume=resume)
        asyncio.run(run.execute())
        return run

    straight = execute(tmp_path / "straight", 14)
    execute(tmp_path / "split", 8)
    resumed = execute(tmp_path / "split", 14, resume=True)

    def rounds(run_dir):
        db = store.open_db(run_dir)
        return [(r["parent_ids"], r["program"]) for r in db["nodes"].rows_where(order_by="id")]

    assert rounds(tmp_path / "split") == rounds(tmp_path / "straight")
    assert resumed.sampler.front == straight.sampler.front
    assert resumed.sampler.chosen == straight.sampler.chosen
