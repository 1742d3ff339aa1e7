"""Samplers inside real runs: islands and descriptors reach the database, and a resumed
run rebuilds exactly the islands and the archive the killed one had."""

from __future__ import annotations

import asyncio
import json

import pytest
from helpers import compose_config

from harness import db as store
from harness.loop import Run
from harness.tasks import RunError


def execute(run_dir, *overrides, resume=False):
    run = Run(compose_config(*overrides), run_dir, list(overrides), resume=resume)
    asyncio.run(run.execute())
    return run


def reloaded(run_dir, *overrides):
    """The sampler a resume would start from, without running anything."""
    run = Run(compose_config(*overrides), run_dir, list(overrides), resume=True)
    run.db = store.open_db(run_dir)
    run._load_state()
    return run.sampler


ISLAND = (
    "+task=toy",
    "sampler=island",
    "sampler.islands=3",
    "sampler.migration_interval=2",
    "run.workers=2",
)


def test_island_children_live_on_the_island_their_parent_was_drawn_from(tmp_path):
    run = execute(tmp_path, *ISLAND, "run.max_evaluations=20")
    sampler = run.sampler
    assert any(sampler.migrants), "no migration happened in 20 evaluations"
    db = store.open_db(tmp_path)
    children = list(db["nodes"].rows_where("id > 0"))
    assert {row["island"] for row in children} == {0, 1, 2}
    for row in children:
        parent = json.loads(row["parent_ids"])[0]
        on_island = parent == 0 or sampler.home.get(parent) == row["island"]
        assert on_island or parent in sampler.migrants[row["island"]], row
        if row["status"] == "evaluated":  # duplicates and failures are never selectable
            assert sampler.home[row["id"]] == row["island"]


def test_a_resumed_island_run_continues_with_the_same_islands(tmp_path):
    run = execute(tmp_path, *ISLAND, "run.max_evaluations=14")
    again = reloaded(tmp_path, *ISLAND, "run.max_evaluations=14")
    assert [i.members for i in again.islands] == [i.members for i in run.sampler.islands]
    assert again.migrants == run.sampler.migrants
    assert (again.generations, again.current) == (run.sampler.generations, run.sampler.current)
    assert again.rng.getstate() == run.sampler.rng.getstate()
    resumed = execute(tmp_path, *ISLAND, "run.max_evaluations=20", resume=True)
    assert store.summary(resumed.db)["evaluated"] == 20


ELITES = ("+task=toy", "sampler=map_elites", "sampler.bins=4", "run.workers=2")


@pytest.mark.parametrize("descriptors", [None, "[program_length,diversity]"])
def test_map_elites_runs_store_descriptors_and_resume_with_the_same_archive(tmp_path, descriptors):
    extra = (f"sampler.descriptors={descriptors}",) if descriptors else ()
    run = execute(tmp_path, *ELITES, *extra, "run.max_evaluations=14")
    expected = ["value"] if descriptors is None else ["program_length", "diversity"]
    assert run.sampler.descriptors == expected  # the toy task declares "value"
    db = store.open_db(tmp_path)
    for row in db["nodes"].rows_where("success = 1"):
        assert {"program_length", "diversity", "value"} <= set(json.loads(row["features"]))
    seed = store.get_node(db, 0)["features"]
    assert seed["program_length"] == 1.0 and seed["diversity"] == 0.0
    again = reloaded(tmp_path, *ELITES, *extra, "run.max_evaluations=14")
    assert again.archive == run.sampler.archive and len(again.archive) >= 1
    assert again.curiosity == run.sampler.curiosity
    parents = [json.loads(r["parent_ids"])[0] for r in db["nodes"].rows_where("id > 0")]
    assert set(parents) <= set(run.sampler.cell_of)


def test_resume_refuses_a_changed_island_count_and_leaves_the_run_as_it_was(tmp_path):
    execute(tmp_path, *ISLAND, "run.max_evaluations=6")
    with pytest.raises(RunError, match="keep sampler.islands"):
        execute(tmp_path, "+task=toy", "sampler=island", "sampler.islands=4", resume=True)
    summary = store.summary(store.open_db(tmp_path))
    assert (summary["status"], summary["evaluated"], summary["sessions"]) == ("finished", 6, 1)
