"""Stochastic scores (issue #18): the statistics against scipy, the confirmation policy, runs
with ``run.confirm`` (what may be best, the budget), a resume in the middle of a
confirmation, and what ``status``, ``eval --seeds``, ``compare`` and the final line report."""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from conftest import HARNESS
from helpers import run_loop
from scipy import stats

from harness import db as store
from harness.config import ConfirmConf
from harness.confirmation import Confirmation
from harness.estimate import estimate, paired, t_cdf, t_quantile
from harness.evaluation import check_samples
from harness.nodes import Node, scored_samples
from harness.task import EvalResult, Noise, TaskSpec
from harness.tasks import RunError

FRESH = [1000, 1001, 1002, 1003]


# ---------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("df", [1, 2, 3, 5, 9, 30, 250])
def test_the_t_distribution_matches_scipy(df: int) -> None:
    for t in (-40.0, -6.0, -2.2, -0.7, 0.0, 0.3, 1.0, 2.6, 9.0, 60.0):
        assert t_cdf(t, df) == pytest.approx(stats.t.cdf(t, df), abs=1e-12)
    for p in (0.0005, 0.025, 0.1, 0.5, 0.8, 0.95, 0.975, 0.9995):
        assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-9, abs=1e-12)


def test_estimates_and_intervals_match_scipy() -> None:
    rng = random.Random(7)
    for n in (2, 3, 8, 40):
        values = [rng.gauss(0.4, 0.05) for _ in range(n)]
        found = estimate(values)
        assert found.mean == pytest.approx(sum(values) / n)
        assert found.se == pytest.approx(stats.sem(values))
        low, high = stats.t.interval(0.9, n - 1, loc=found.mean, scale=stats.sem(values))
        assert found.interval(0.9) == pytest.approx((low, high))
    single = estimate([0.3])
    assert single.se is None and single.interval() is None and single.format() == "0.3000 (n=1)"


def test_paired_comparisons_match_a_paired_t_test_on_the_shared_seeds() -> None:
    rng = random.Random(3)
    for trial in range(20):
        shared = list(range(2 + trial % 7))
        a = {seed: rng.gauss(0.5, 0.1) for seed in [*shared, 90]}  # 90: a's alone
        b = {seed: a[seed] - rng.gauss(0.02, 0.05) for seed in shared} | {91: 0.0}
        found = paired(a, b)
        assert found is not None and found.seeds == tuple(shared)
        reference = stats.ttest_rel(
            [a[s] for s in shared], [b[s] for s in shared], alternative="greater"
        )
        assert found.p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-12)
        assert found.gain.mean == pytest.approx(sum(a[s] - b[s] for s in shared) / len(shared))
    assert paired({0: 1.0}, {1: 1.0}) is None
    one = paired({0: 1.0}, {0: 0.5})
    assert one is not None and one.gain.mean == 0.5 and one.p_value is None
    assert not one.significant(0.05)


# ---------------------------------------------------------------------------- the policy


def policy(**conf: object) -> Confirmation:
    spec = TaskSpec(name="t", description="", entry="f", noise=Noise())
    found = Confirmation.for_run(ConfirmConf(enabled=True, **conf), spec)  # type: ignore[arg-type]
    assert found is not None
    return found


def node(node_id: int, samples: dict[int, float], confirmation: dict | None = None) -> Node:
    made = Node(node_id, success=True, samples=dict(samples), confirmation=confirmation)
    made.rescore()
    return made


def test_confirmation_is_off_when_disabled_or_when_the_task_is_deterministic() -> None:
    noisy = TaskSpec(name="t", description="", entry="f", noise=Noise())
    plain = TaskSpec(name="t", description="", entry="f")
    assert Confirmation.for_run(ConfirmConf(enabled=False), noisy) is None
    assert Confirmation.for_run(ConfirmConf(enabled=True), plain) is None
    with pytest.raises(RunError, match=r"run\.confirm\.alpha=1\.5 is out of range"):
        Confirmation.for_run(ConfirmConf(enabled=True, alpha=1.5), noisy)


def test_fresh_seeds_come_in_batches_the_size_of_an_evaluation() -> None:
    assert policy(seeds=5).batches(2) == [[1000, 1001], [1002, 1003], [1004]]
    assert policy(seeds=3, batch=1, first_seed=7).batches(2) == [[7], [8], [9]]


def test_a_node_needs_confirmation_when_it_would_beat_the_bests_score() -> None:
    rule = policy()
    seed = node(0, {0: 1.0, 1: 2.0})  # 1.5
    assert rule.needed(node(5, {0: 1.3, 1: 2.1}), seed)
    assert not rule.needed(node(6, {0: 1.3, 1: 1.5}), seed)
    champion = node(3, {0: 9.0, 1: 9.0, 1000: 1.8, 1001: 1.8},
                    {"verdict": "confirmed", "seeds": FRESH})  # fmt: skip
    assert champion.score == 1.8, "the best's lucky first seeds do not raise the bar"
    assert not rule.needed(node(7, {0: 1.6, 1: 1.9}), champion)
    assert rule.needed(node(8, {0: 1.7, 1: 2.0}), champion)
    assert not rule.needed(Node(9, success=False), seed)


def test_the_verdict_needs_a_positive_gain_on_the_fresh_seeds() -> None:
    seed = node(0, {0: 1.0, **{s: 1.0 + s % 2 for s in FRESH}})
    lucky = node(4, {0: 5.0, **{s: 1.0 + s % 2 - 0.01 for s in FRESH}})
    record = policy().verdict(lucky, seed)
    assert record["verdict"] == "rejected" and record["gain"] == pytest.approx(-0.01)
    real = node(5, {0: 1.1, **{s: 1.0 + s % 2 + 0.1 + 0.01 * (s % 3) for s in FRESH}})
    confirmed = policy().verdict(real, seed)
    assert confirmed["verdict"] == "confirmed" and confirmed["n"] == 4
    assert confirmed["p_value"] < 0.001
    noisy_gain = node(6, {s: 1.0 + s % 2 + (0.5 if s % 2 else -0.4) for s in FRESH})
    assert policy().verdict(noisy_gain, seed)["verdict"] == "confirmed"  # mean +0.05
    assert policy(alpha=0.05).verdict(noisy_gain, seed)["verdict"] == "rejected"
    failed = policy().verdict(real, seed, failure="failed on fresh seeds [1002] (timeout)")
    assert failed["verdict"] == "rejected" and "timeout" in failed["reason"]


def test_racing_drops_a_candidate_whose_whole_interval_is_below_the_seed() -> None:
    seed = node(0, {1000: 1.0, 1001: 2.0, 1002: 1.5})
    assert policy().hopeless(node(5, {1000: 0.5, 1001: 1.49, 1002: 1.0}), seed)
    assert not policy().hopeless(node(6, {1000: 0.5, 1001: 2.5}), seed)


def test_a_confirmed_score_is_the_mean_on_the_fresh_seeds_alone() -> None:
    samples = {0: 10.0, 1: 12.0, 1000: 1.0, 1001: 2.0}
    assert scored_samples(samples, None) == samples
    assert scored_samples(samples, {"verdict": "confirmed", "seeds": FRESH}) == {
        1000: 1.0,
        1001: 2.0,
    }
    assert node(3, samples, {"verdict": "pending", "seeds": FRESH}).score == 1.5
    assert scored_samples({0: 10.0}, {"verdict": "pending", "seeds": FRESH}) == {0: 10.0}


def test_a_stochastic_task_that_ignores_the_seeds_it_is_given_fails_its_evaluation() -> None:
    config = {"seeds": [1000, 1001]}
    wrong = check_samples(Noise(), config, EvalResult(True, samples={0: 0.5, 1: 0.4}))
    assert not wrong.success and wrong.error_class == "evaluator_error" and wrong.score is None
    assert "asked for seeds [1000, 1001]" in wrong.feedback
    nan = check_samples(Noise(), config, EvalResult(True, samples={1000: 0.5, 1001: math.nan}))
    assert not nan.success
    right = check_samples(Noise(), config, EvalResult(True, samples={1000: 0.5, 1001: 0.4}))
    assert right.success


# ---------------------------------------------------------------------------- runs


def nodes_of(run_dir: Path) -> list[Node]:
    db = store.open_db(run_dir)
    return [store.read_node(db, row[0]) for row in db.execute("select id from nodes order by id")]


@pytest.fixture(scope="module")
def confirmed_runs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, dict]]:
    """Two seeds of a heavily noisy run with ``run.confirm`` on."""
    runs = []
    for seed in (0, 1):
        run_dir = tmp_path_factory.mktemp(f"confirm{seed}")
        summary = run_loop(run_dir, "+task=noisy", f"seed={seed}", "run.max_evaluations=36",
                           "run.confirm.enabled=true", "task.noise_sd=0.4")  # fmt: skip
        runs.append((run_dir, summary))
    return runs


def test_under_confirm_the_best_is_the_seed_or_a_node_confirmed_on_fresh_seeds(
    confirmed_runs: list[tuple[Path, dict]],
) -> None:
    verdicts = []
    for run_dir, summary in confirmed_runs:
        nodes = {n.id: n for n in nodes_of(run_dir)}
        verdicts += [(n.confirmation or {}).get("verdict") for n in nodes.values() if n.id]
        best = nodes[summary["best_node"]]
        if best.id:
            record = best.confirmation or {}
            assert record["verdict"] == "confirmed" and record["gain"] > 0, record
        # Every eligible node is on the same fresh seeds, so "best" is a paired ranking.
        eligible = [
            n for n in nodes.values() if n.eligible and n.success and n.status != "duplicate"
        ]
        assert best.score == max(n.score for n in eligible)
        for n in eligible:
            if n.id == 0 and not any(s in n.samples for s in FRESH):
                continue
            assert n.score == pytest.approx(
                estimate(n.samples[s] for s in FRESH if s in n.samples).mean
            )
    assert "rejected" in verdicts, "heavy noise must give lucky nodes that fail to confirm"
    assert "not_needed" in verdicts


def test_reevaluations_count_against_the_budget_and_are_stored_as_such(
    confirmed_runs: list[tuple[Path, dict]],
) -> None:
    for run_dir, summary in confirmed_runs:
        db = store.open_db(run_dir)
        rows = list(db["reevaluations"].rows)
        assert rows and {row["purpose"] for row in rows} == {"confirm"}
        first = db.execute("select count(*) from nodes where evaluated_at is not null").fetchone()[
            0
        ]
        assert summary["evaluated"] == first + len(rows) == 36
        seed_rows = [json.loads(row["seeds"]) for row in rows if row["node_id"] == 0]
        ran = [seed for seeds in seed_rows for seed in seeds]
        assert ran and len(ran) == len(set(ran)) and set(ran) <= set(FRESH), "each at most once"
        assert all(len(json.loads(row["seeds"])) <= 2 for row in rows), "batches of 2 seeds"


def test_status_json_carries_mean_stderr_and_n(confirmed_runs, cli) -> None:
    run_dir, _ = confirmed_runs[0]
    summary = json.loads(cli("status", str(run_dir), "--json").stdout)
    best = store.read_node(store.open_db(run_dir), summary["best_node"])
    fresh = scored_samples(best.samples, best.confirmation)
    assert summary["best_score"] == pytest.approx(estimate(fresh.values()).mean)
    assert summary["best_score_se"] == pytest.approx(stats.sem(list(fresh.values())))
    assert summary["best_score_n"] == len(fresh) and summary["seed_score_n"] >= 2
    text = cli("status", str(run_dir)).stdout
    assert f"(n={len(fresh)}) (95% interval)" in text


def test_compare_shows_the_bests_own_interval_for_a_stochastic_task(confirmed_runs, cli, tmp_path):
    result = cli("compare", *(str(run) for run, _ in confirmed_runs), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "best's own ± (95%)" in result.stdout
    header = (tmp_path / "summary.csv").read_text().splitlines()[0]
    assert "final_best_within_ci95" in header


def test_without_confirm_the_highest_score_is_best_with_its_paired_report(tmp_path) -> None:
    summary = run_loop(tmp_path, "+task=noisy", "run.max_evaluations=12", "task.noise_sd=0.4")
    nodes = nodes_of(tmp_path)
    assert all(n.confirmation is None for n in nodes)
    scored = [n for n in nodes if n.success and n.status != "duplicate"]
    top = max(scored, key=lambda n: (n.score, -n.id))
    assert summary["best_node"] == top.id and summary["best_score_n"] == 2
    if top.id:
        versus = summary["best_vs_seed"]
        mine, seed = [top.samples[s] for s in (0, 1)], [nodes[0].samples[s] for s in (0, 1)]
        reference = stats.ttest_rel(mine, seed, alternative="greater")
        assert versus["p_value"] == pytest.approx(reference.pvalue)
        assert versus["significant"] == (reference.pvalue < 0.05)


def test_eval_seeds_gives_the_mean_and_interval_over_those_seeds(cli, tmp_path) -> None:
    program = tmp_path / "p.py"
    program.write_text("def f():\n    return 2.0\n")
    result = cli("eval", "+task=noisy", "--program", str(program), "--seeds", "3,4,5,6", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    values = [payload["samples"][str(seed)] for seed in (3, 4, 5, 6)]
    assert payload["score"] == pytest.approx(sum(values) / 4)
    assert payload["score_se"] == pytest.approx(stats.sem(values)) and payload["score_n"] == 4
    low, high = stats.t.interval(0.95, 3, loc=payload["score"], scale=stats.sem(values))
    assert payload["interval"] == pytest.approx([low, high])
    refused = cli("eval", "+task=toy", "--program", str(program), "--seeds", "0,1")
    assert refused.returncode == 2 and "declares no noise" in refused.stderr


def _rows(run_dir: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(f"file:{run_dir / store.DB_NAME}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def test_a_run_killed_in_the_middle_of_a_confirmation_finishes_it_on_resume(tmp_path, cli):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [str(HARNESS), "run", "+task=noisy", "task.noise_sd=0.4", "task.fresh_sleep_s=0.6",
         "run.confirm.enabled=true", "run.confirm.batch=1", "run.max_evaluations=40",
         "run.workers=1", f"hydra.run.dir={run_dir}"],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with contextlib.suppress(sqlite3.Error):
                done = _rows(run_dir, "select count(*) from reevaluations where node_id > 0")
                if done[0][0] >= 1:
                    break
            assert proc.poll() is None, "the run ended before a candidate was re-evaluated"
            time.sleep(0.05)
        else:
            pytest.fail("no confirmation started")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    before = _rows(run_dir, "select id, node_id, seeds, samples from reevaluations order by id")
    pending = _rows(run_dir, "select id from nodes where"
                    " json_extract(confirmation, '$.verdict') = 'pending'")  # fmt: skip
    assert len(pending) == 1, "the kill came in the middle of a confirmation"
    target = pending[0][0]
    assert any(row[1] == target for row in before)

    result = cli("resume", str(run_dir))
    assert result.returncode == 0, result.stderr
    after = _rows(run_dir, "select id, node_id, seeds, samples from reevaluations order by id")
    assert after[: len(before)] == before, "completed re-evaluations are kept as they were"
    mine = [json.loads(row[2]) for row in after if row[1] == target]
    flat = [seed for seeds in mine for seed in seeds]
    assert len(flat) == len(set(flat)), "no fresh seed of the node was evaluated twice"
    record = json.loads(_rows(run_dir, f"select confirmation from nodes where id = {target}")[0][0])
    assert record["verdict"] in ("confirmed", "rejected")
    summary = json.loads(cli("status", str(run_dir), "--json").stdout)
    assert summary["evaluated"] == 40 and summary["status"] == "finished"
    assert summary["pending"] == 0
