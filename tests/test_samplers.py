"""The sampling algorithms themselves: UCB1 values and visits, top-k windows, island
lineages and migration, MAP-Elites archives, seeding and state round-trips."""

from __future__ import annotations

import json
import math
import random

import pytest

from harness import plugins
from harness.samplers.base import Candidate, Selection
from harness.samplers.island import IslandSampler
from harness.samplers.map_elites import MapElitesSampler
from harness.samplers.simple import GreedySampler, RandomSampler, TopKSampler
from harness.samplers.ucb1 import UCB1Sampler
from harness.task import Descriptor, TaskSpec

ALL = (UCB1Sampler, GreedySampler, RandomSampler, TopKSampler, IslandSampler, MapElitesSampler)


def nodes(scores):
    return [Candidate(i, s, True, parent=None if i == 0 else 0) for i, s in enumerate(scores)]


def fed(sampler, candidates):
    for node in candidates:
        sampler.observe(node)
    return sampler


def restored(sampler, candidates, selections=(), seed=99):
    """A fresh sampler rebuilt the way a resume does: observe the completed nodes, replay
    the selections, then load the saved state and the journal (drained from ``sampler``)."""
    clone = fed(type(sampler)(sampler.config, seed), candidates)
    for selection in selections:
        clone.replay(selection)
    clone.load_state(json.loads(json.dumps(sampler.state())))
    clone.load_journal(json.loads(json.dumps(sampler.journal())))
    return clone


def with_visits(sampler, visits):
    for node_id, count in visits.items():
        for _ in range(count):
            sampler.replay(Selection([node_id]))
    sampler.load_state(sampler.state())
    return sampler


def test_builtin_samplers_are_registered_through_the_hook():
    assert {cls.name for cls in ALL} <= set(plugins.sampler_names())


@pytest.mark.parametrize("cls", ALL)
def test_samplers_only_select_eligible_nodes_and_never_more_than_asked(cls):
    pool = [Candidate(0, 1.0, True), Candidate(1, None, False), Candidate(2, 2.0, True)]
    sampler = fed(cls({}, 0), pool)
    for _ in range(20):
        ids = sampler.select(3).ids
        assert set(ids) <= {0, 2} and len(ids) == len(set(ids)) <= 3
    assert cls({}, 0).select(3).ids == []


# ------------------------------------------------------------------ UCB1


def test_ucb1_visits_unvisited_nodes_first_newest_first_and_counts_every_visit():
    sampler = fed(UCB1Sampler({"c": 1.414}, 0), nodes([1.0, 3.0, 2.0]))
    assert sampler.select(1).ids == [2]
    assert sampler.select(1).ids == [1]
    assert sampler.select(1).ids == [0]
    assert sampler.visits == {0: 1, 1: 1, 2: 1} and sampler.total == 3
    sampler.select(2)
    assert sum(sampler.visits.values()) == sampler.total == 5


def test_ucb1_values_follow_the_formula():
    sampler = with_visits(
        fed(UCB1Sampler({"c": 2.0}, 0), nodes([1.0, 3.0, 2.0])), {0: 1, 1: 3, 2: 2}
    )
    total = 6
    assert sampler.value(0) == pytest.approx(0.0 + 2.0 * math.sqrt(math.log(total) / 1))
    assert sampler.value(1) == pytest.approx(1.0 + 2.0 * math.sqrt(math.log(total) / 3))
    assert sampler.value(2) == pytest.approx(0.5 + 2.0 * math.sqrt(math.log(total) / 2))
    sampler.visits.pop(2)
    assert sampler.value(2) == math.inf


@pytest.mark.parametrize("c", [0.0, 0.3, 1.414, 5.0])
def test_ucb1_selection_is_the_argmax_of_the_formula_over_every_node(c):
    """The grouped index must pick exactly what a scan of all nodes would pick."""
    rng = random.Random(int(c * 10))
    sampler = UCB1Sampler({"c": c}, 0)
    next_id = 0
    for _ in range(300):
        if rng.random() < 0.5:
            sampler.observe(Candidate(next_id, round(rng.uniform(0, 5), 1), True))
            next_id += 1
        if not sampler.scores:
            continue
        unvisited = sorted((i for i in sampler.scores if i not in sampler.visits), reverse=True)
        n = rng.randint(1, 4)
        ranked = unvisited + sorted(
            (i for i in sampler.scores if i in sampler.visits),
            key=lambda i: (sampler.value(i), i),
            reverse=True,
        )
        expected = ranked[:n]
        before = dict(sampler.visits)
        chosen = sampler.select(n).ids
        assert sorted(chosen) == sorted(expected)
        for i in chosen:
            assert sampler.visits[i] == before.get(i, 0) + 1


def test_ucb1_exploits_when_exploration_is_off():
    sampler = with_visits(
        fed(UCB1Sampler({"c": 0.0}, 0), nodes([1.0, 3.0, 2.0])), {0: 5, 1: 5, 2: 5}
    )
    assert sampler.select(1).ids == [1]
    assert sampler.visits[1] == 6


def test_ucb1_resumes_by_replaying_its_selections_with_a_small_state():
    pool = nodes([1.0, 3.0, 2.0, 2.5])
    sampler = fed(UCB1Sampler({}, 3), pool)
    selections = [sampler.select(2) for _ in range(4)]
    assert set(sampler.state()) == {"rng"}, "visit counts are rebuilt, not saved"
    clone = restored(sampler, pool, selections)
    assert clone.visits == sampler.visits and clone.total == sampler.total
    expected = [sampler.select(2).ids for _ in range(5)]
    assert [clone.select(2).ids for _ in range(5)] == expected


# ------------------------------------------------------------------ baselines and top-k


def test_greedy_returns_best_first_ties_to_the_older_node():
    sampler = fed(GreedySampler({}, 0), nodes([1.0, 3.0, 2.0, 3.0]))
    assert sampler.select(3).ids == [1, 3, 2]


def test_random_is_seeded_distinct_and_puts_the_best_sampled_node_first():
    pool = nodes([float(i % 7) for i in range(20)])
    a = fed(RandomSampler({}, 7), pool).select(3).ids
    assert a == fed(RandomSampler({}, 7), pool).select(3).ids and len(set(a)) == 3
    assert a[0] == max(a, key=lambda i: (pool[i].score, -i))
    others = {tuple(fed(RandomSampler({}, s), pool).select(3).ids) for s in range(8, 14)}
    assert len(others) > 1


def test_top_k_draws_the_parent_from_the_top_k_and_references_from_the_pool():
    pool = nodes([float(i) for i in range(100)])  # node i has score i
    sampler = fed(TopKSampler({"parent_k": 10, "pool_k": 50}, 0), pool)
    parents = set()
    for _ in range(300):
        ids = sampler.select(4).ids
        parents.add(ids[0])
        assert ids[0] >= 90 and all(i >= 50 for i in ids[1:]) and len(set(ids)) == 4
    assert len(parents) == 10  # every one of the top 10 gets its turn
    with pytest.raises(ValueError, match="parent_k <= pool_k"):
        TopKSampler({"parent_k": 20, "pool_k": 5}, 0)


# ------------------------------------------------------------------ islands


def island_sampler(**config):
    return IslandSampler({"islands": 3, "migration_interval": 4, **config}, 0)


def test_the_seed_is_on_every_island_and_children_live_on_their_rounds_island():
    sampler = island_sampler()
    sampler.observe(Candidate(0, 1.0, True))
    assert all(island.members == [0] for island in sampler.islands)
    sampler.observe(Candidate(1, 2.0, True, parent=0, island=2))
    sampler.observe(Candidate(2, 3.0, True, parent=1))  # no island: its parent's
    assert sampler.islands[2].members == [0, 1, 2]
    assert sampler.islands[0].members == sampler.islands[1].members == [0]
    assert sampler.home == {1: 2, 2: 2}


def test_island_selection_is_round_robin_and_stays_on_the_island():
    sampler = island_sampler(migration_interval=1000)
    sampler.observe(Candidate(0, 0.0, True))
    next_id = 1
    for island in range(3):
        for _ in range(5):
            sampler.observe(Candidate(next_id, float(next_id), True, parent=0, island=island))
            next_id += 1
    for turn in range(30):
        selection = sampler.select(3)
        assert selection.island == turn % 3
        assert set(selection.ids) <= set(sampler.islands[selection.island].members)
        assert len(set(selection.ids)) == 3
    assert sampler.generations == [10, 10, 10]


def test_exploitation_only_picks_among_the_island_elites():
    sampler = IslandSampler(
        {"islands": 1, "exploitation_ratio": 1.0, "exploration_ratio": 0.0, "elite_k": 3}, 0
    )
    fed(sampler, nodes([float(i) for i in range(30)]))
    for _ in range(50):
        assert set(sampler.select(3).ids) == {27, 28, 29}


def test_ring_migration_copies_each_islands_best_without_duplicates():
    sampler = island_sampler(migration_rate=0.25)
    sampler.observe(Candidate(0, 0.0, True))
    scores = {1: 5.0, 2: 9.0, 3: 7.0, 4: 1.0, 5: 2.0, 6: 3.0, 7: 4.0}
    for node_id, score in scores.items():
        island = 0 if node_id <= 4 else 1
        sampler.observe(Candidate(node_id, score, True, parent=0, island=island))
    # island 0 = {0, 1, 2, 3, 4}: its 4th generation migrates floor(0.25 * 5) = 1 node
    for _ in range(3 * 3):
        sampler.select(2)
    assert sampler.migrants == [[], [], []]
    sampler.select(2)  # island 0, generation 4
    assert sampler.migrants[1] == [2]
    assert 2 in sampler.islands[1].index and 2 not in sampler.islands[2].index
    assert sampler.migrate(0) == []  # already there: never duplicated
    assert sampler.islands[1].members.count(2) == 1
    sampler.select(2)  # island 1, generation 4: its best is the migrant 2 -> island 2
    assert sampler.migrants[2] == [2]


#: Three islands of eight nodes each, and the seed on all of them.
ISLAND_POOL = [Candidate(0, 0.0, True)] + [
    Candidate(i, float(i), True, parent=0, island=i % 3) for i in range(1, 25)
]


def migrated_island():
    """An island sampler over :data:`ISLAND_POOL` after 17 selections (migrations made)."""
    sampler = fed(island_sampler(), ISLAND_POOL)
    for _ in range(17):
        sampler.select(3)
    return sampler


def test_island_state_round_trips_with_migrants_and_counters():
    sampler = migrated_island()
    assert any(sampler.migrants)
    clone = restored(sampler, ISLAND_POOL)
    assert [i.members for i in clone.islands] == [i.members for i in sampler.islands]
    assert (clone.current, clone.generations) == (sampler.current, sampler.generations)
    assert [clone.select(3) for _ in range(10)] == [sampler.select(3) for _ in range(10)]
    with pytest.raises(ValueError, match="keep sampler.islands"):
        IslandSampler({"islands": 4}, 0).load_state(sampler.state())


def test_island_migrations_are_journalled_once_and_the_state_stays_small():
    sampler = migrated_island()
    journal = sampler.journal()
    assert journal and sampler.journal() == [], "each entry is handed over once"
    assert [sorted(sum((ids for t, ids in journal if t == n), [])) for n in range(3)] == [
        sorted(ids) for ids in sampler.migrants
    ]
    assert set(sampler.state()) == {"rng", "current", "generations", "last_migration"}


def test_an_island_state_saved_with_its_migrants_resumes_and_journals_them():
    sampler = migrated_island()
    sampler.journal()
    saved = {**sampler.state(), "migrants": sampler.migrants}  # as stored before the journal
    clone = fed(island_sampler(), ISLAND_POOL)
    clone.load_state(json.loads(json.dumps(saved)))
    assert [i.members for i in clone.islands] == [i.members for i in sampler.islands]
    assert clone.migrants == sampler.migrants
    again = fed(island_sampler(), ISLAND_POOL)
    again.load_state(json.loads(json.dumps(clone.state())))
    again.load_journal(clone.journal())
    assert again.migrants == sampler.migrants
    assert [again.select(3) for _ in range(10)] == [sampler.select(3) for _ in range(10)]


# ------------------------------------------------------------------ MAP-Elites


def qd(features, i, score, parent=0):
    return Candidate(i, score, True, parent=parent if i else None, features=features)


def elites_sampler(**config):
    return MapElitesSampler(
        {"descriptors": ["program_length", "diversity"], "bins": 4, **config}, 0
    )


def test_cells_bin_the_scaled_descriptors():
    sampler = elites_sampler()
    assert sampler.cell({"program_length": 0.0, "diversity": 0.99}) == (0, 3)
    assert sampler.cell({"program_length": 0.26, "diversity": 1.0}) == (1, 3)
    assert sampler.cell({"program_length": 0.5}) is None


def test_each_cell_keeps_its_best_node_ties_to_the_older():
    sampler = elites_sampler()
    sampler.observe(qd({"program_length": 0.1, "diversity": 0.1}, 0, 1.0))
    sampler.observe(qd({"program_length": 0.2, "diversity": 0.2}, 1, 2.0))  # same cell, better
    sampler.observe(qd({"program_length": 0.2, "diversity": 0.2}, 2, 2.0))  # tie: older wins
    sampler.observe(qd({"program_length": 0.9, "diversity": 0.1}, 3, 0.5))  # new cell
    sampler.observe(qd({"program_length": 0.9, "diversity": 0.1}, 4, 0.1))  # worse
    assert sampler.archive == {(0, 0): (2.0, 1), (3, 0): (0.5, 3)}
    assert sorted(sampler.elites()) == [1, 3]


def test_map_elites_only_ever_selects_elites_and_references_from_other_cells():
    rng = random.Random(1)
    pool = [
        qd({"program_length": rng.random(), "diversity": rng.random()}, i, rng.random())
        for i in range(200)
    ]
    sampler = fed(elites_sampler(), pool)
    elites = set(sampler.elites())
    assert 1 < len(elites) < 200
    parents = set()
    for _ in range(500):
        ids = sampler.select(3).ids
        assert set(ids) <= elites and len(set(ids)) == 3
        cells = [sampler.cell_of[i] for i in ids]
        assert len(set(cells)) == 3
        parents.add(ids[0])
    assert parents == elites  # uniform over cells: every elite is a parent at some point


def test_curiosity_rewards_cells_whose_children_enter_the_archive():
    sampler = elites_sampler(selection="curiosity")
    sampler.observe(qd({"program_length": 0.1, "diversity": 0.1}, 0, 1.0))
    sampler.observe(qd({"program_length": 0.9, "diversity": 0.9}, 1, 1.0))  # new cell: +1
    sampler.observe(qd({"program_length": 0.9, "diversity": 0.9}, 2, 0.5))  # not in: -0.5
    assert sampler.curiosity[(0, 0)] == pytest.approx(1.5)
    for i in range(3, 10):  # children of node 1 that never beat it
        sampler.observe(qd({"program_length": 0.9, "diversity": 0.9}, i, 0.1, parent=1))
    assert sampler.curiosity[(3, 3)] == pytest.approx(0.1)
    picks = [sampler.select(1).ids[0] for _ in range(400)]
    assert picks.count(0) > 8 * picks.count(1)  # weights 1.5 : 0.1


def test_the_archive_is_the_same_whatever_the_observation_order_and_survives_resume():
    rng = random.Random(2)
    pool = [
        qd({"program_length": rng.random(), "diversity": rng.random()}, i, round(rng.random(), 1))
        for i in range(150)
    ]
    sampler = fed(elites_sampler(), pool)
    for _ in range(20):
        sampler.select(3)
    shuffled = pool[:]
    rng.shuffle(shuffled)
    clone = restored(sampler, shuffled)
    assert clone.archive == sampler.archive and clone.curiosity == sampler.curiosity
    assert [clone.select(3) for _ in range(10)] == [sampler.select(3) for _ in range(10)]
    with pytest.raises(ValueError, match="keep sampler.descriptors"):
        MapElitesSampler({"descriptors": ["diversity"]}, 0).load_state(sampler.state())


def test_map_elites_defaults_to_the_tasks_descriptors_and_rejects_unknown_ones():
    task = TaskSpec("t", "", "f", descriptors=(Descriptor("radii", 1, 26),))
    assert MapElitesSampler({}, 0, task=task).descriptors == ["radii"]
    assert MapElitesSampler({}, 0).descriptors == ["program_length", "diversity"]
    with pytest.raises(ValueError, match="unknown descriptor"):
        MapElitesSampler({"descriptors": ["symmetry"]}, 0, task=task)
