"""Flat per-round cost: a round's SQL and the sampler's stored state do not grow with the
run; the node views the run holds equal the store, after a run and after a resume; a
resume rebuilds the in-memory state the run ended with.

Runs use the benchmarks' ``bench`` task and ``llm=instant`` proposer (a trivial evaluation,
no model), so thousands of rounds take seconds; the statements are SQLite's own trace.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
from helpers import compose_config, registered

from harness import db as store
from harness import hookimpl, plugins
from harness.loop import Run
from harness.runstate import RunState

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import harness_bench  # noqa: E402 - the benchmarks' plugin, beside the tests' own


class _Bench:
    """The benchmark plugin's task and proposer, registered here beside the toy plugin
    (whose ``noisy`` task the benchmark plugin registers too)."""

    @hookimpl
    def harness_register_tasks(self, register):
        register(harness_bench.Bench())

    @hookimpl
    def harness_register_proposers(self, register):
        register("instant", harness_bench.InstantProposer)

    @hookimpl
    def harness_register_schemas(self, register):
        register("llm", "instant", harness_bench.InstantConf)


@pytest.fixture
def bench(monkeypatch):
    """The ``bench`` task and ``llm=instant`` here, and the benchmark plugin in the
    evaluation workers (by name, as ``HARNESS_PLUGINS`` loads it: no toy plugin there)."""
    plugins.load_plugins()  # with the tests' own HARNESS_PLUGINS
    monkeypatch.setenv("HARNESS_PLUGINS", "harness_bench")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(BENCHMARKS), os.environ["PYTHONPATH"]]))
    with registered(_Bench(), "harness_bench"):
        yield


class TracedRun(Run):
    """A run that keeps every SQL statement it sends, with the round count at the time."""

    statements: list[tuple[int, str]]

    def _load_state(self) -> None:
        super()._load_state()
        self.statements = []
        self.db.conn.set_trace_callback(
            lambda sql: self.statements.append((self.state.tally.rounds, sql))
        )


def _args(nodes: int, *extra: str) -> list[str]:
    """One worker and no buffer: one round at a time, so a window of rounds is exact."""
    return [
        "+task=bench",
        "llm=instant",
        f"run.max_evaluations={nodes}",
        "run.workers=1",
        "analyzer=none",
        *extra,
    ]


def _shape(sql: str) -> str:
    """A statement without its values (the trace shows them bound)."""
    return re.sub(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b", "?", sql)


def _window(run: TracedRun, start: int, rounds: int) -> Counter[str]:
    return Counter(_shape(sql) for r, sql in run.statements if start <= r < start + rounds)


def _traced(run_dir: Path, nodes: int) -> TracedRun:
    args = _args(nodes)
    run = TracedRun(compose_config(*args), run_dir, args)
    asyncio.run(run.execute())
    return run


def test_a_rounds_statements_do_not_grow_with_the_run(tmp_path, bench):
    small = _traced(tmp_path / "small", 300)
    large = _traced(tmp_path / "large", 3000)
    early, late = _window(small, 200, 50), _window(large, 2900, 50)
    assert sum(early.values()) > 0
    assert late == early, "the same statements, as many of them, per round at 3,000 nodes"


def _stored_state(run_dir: Path, name: str) -> str:
    db = store.open_db(run_dir)
    return db.execute("select state from sampler_state where name = ?", [name]).fetchone()[0]


def test_the_stored_sampler_state_does_not_grow_with_the_run(tmp_path, bench):
    sizes = {}
    for nodes in (300, 3000):
        args = _args(nodes, "sampler=island")
        asyncio.run(Run(compose_config(*args), tmp_path / str(nodes), args).execute())
        sizes[nodes] = len(_stored_state(tmp_path / str(nodes), "island"))
    assert sizes[3000] < sizes[300] + 100, "the island migrations are journalled, row by row"


def _views_match_the_store(state: RunState) -> None:
    views = state.views.cached()
    assert views, "the run holds views"
    db = state.db
    for node_id, view in views.items():
        assert view == store.read_node(db, node_id).view(), f"node {node_id}'s view"


def test_the_views_held_equal_the_store_after_a_run_and_after_a_resume(tmp_path, bench):
    run_dir = tmp_path / "run"
    args = _args(400)
    first = Run(compose_config(*args), run_dir, args)
    asyncio.run(first.execute())
    _views_match_the_store(first.state)

    more = [*args, "run.max_evaluations=600"]
    resumed = Run(compose_config(*more), run_dir, more, resume=True)
    asyncio.run(resumed.execute())
    assert store.summary(store.open_db(run_dir))["evaluated"] == 600
    _views_match_the_store(resumed.state)


def test_a_resume_rebuilds_the_state_the_run_ended_with(tmp_path, bench):
    run_dir = tmp_path / "run"
    args = _args(300, "sampler=island")
    run = Run(compose_config(*args), run_dir, args)
    asyncio.run(run.execute())

    again = Run(compose_config(*args), run_dir, args, resume=True)
    again.db = store.open_db(run_dir)
    again._load_state()
    live, rebuilt = run.state, again.state
    assert rebuilt.sampler.state() == live.sampler.state()
    assert rebuilt.sampler.scores == live.sampler.scores
    assert [i.members for i in rebuilt.sampler.islands] == [i.members for i in live.sampler.islands]
    assert rebuilt.sampler.migrants == live.sampler.migrants and any(live.sampler.migrants)
    ignored = {"failures_in_row"}  # a streak, not a count: a resume starts it afresh
    assert {k: v for k, v in vars(rebuilt.tally).items() if k not in ignored} == {
        k: v for k, v in vars(live.tally).items() if k not in ignored
    }
    assert rebuilt.new_id() == live.new_id()
    assert rebuilt.features.references == live.features.references
