"""The sampling algorithms themselves: visit counts, ordering, seeding, state round-trips."""

from __future__ import annotations

import json
import math

import pytest

from harness import plugins
from harness.samplers.base import Candidate
from harness.samplers.simple import GreedySampler, RandomSampler
from harness.samplers.ucb1 import UCB1Sampler

POOL = [Candidate(0, 1.0, True), Candidate(1, 3.0, True), Candidate(2, 2.0, True)]


def test_builtin_samplers_are_registered_through_the_hook():
    assert {"ucb1", "greedy", "random"} <= set(plugins.sampler_names())


def test_ucb1_visits_unvisited_nodes_first_and_counts_every_visit():
    sampler = UCB1Sampler({"c": 1.414}, seed=0)
    first = sampler.select(POOL, 1)
    second = sampler.select(POOL, 1)
    third = sampler.select(POOL, 1)
    assert sorted(first + second + third) == [0, 1, 2]
    assert sampler.visits == {0: 1, 1: 1, 2: 1}
    assert sampler.select(POOL, 2)
    assert sum(sampler.visits.values()) == 5


def test_ucb1_values_follow_the_formula():
    sampler = UCB1Sampler({"c": 2.0}, seed=0)
    sampler.load_state({**sampler.state(), "visits": {"0": 1, "1": 3, "2": 2}})
    values = sampler.values(POOL)
    total = 6
    assert values[0] == pytest.approx(0.0 + 2.0 * math.sqrt(math.log(total) / 1))
    assert values[1] == pytest.approx(1.0 + 2.0 * math.sqrt(math.log(total) / 3))
    assert values[2] == pytest.approx(0.5 + 2.0 * math.sqrt(math.log(total) / 2))
    sampler.visits.pop(2)
    assert sampler.values(POOL)[2] == math.inf


def test_ucb1_exploits_when_exploration_is_off():
    sampler = UCB1Sampler({"c": 0.0}, seed=0)
    sampler.load_state({**sampler.state(), "visits": {"0": 5, "1": 5, "2": 5}})
    assert sampler.select(POOL, 1) == [1]
    assert sampler.visits[1] == 6


def test_ucb1_state_round_trips_through_json():
    sampler = UCB1Sampler({}, seed=3)
    for _ in range(4):
        sampler.select(POOL, 2)
    restored = UCB1Sampler({}, seed=99)
    restored.load_state(json.loads(json.dumps(sampler.state())))
    assert restored.visits == sampler.visits
    expected = [sampler.select(POOL, 2) for _ in range(3)]
    assert [restored.select(POOL, 2) for _ in range(3)] == expected


def test_greedy_returns_best_first():
    assert GreedySampler({}, 0).select(POOL, 2) == [1, 2]


def test_random_is_seeded_and_distinct():
    pool = [Candidate(i, float(i), True) for i in range(20)]
    a = RandomSampler({}, 7).select(pool, 3)
    b = RandomSampler({}, 7).select(pool, 3)
    assert a == b and len(set(a)) == 3
    assert RandomSampler({}, 8).select(pool, 3) != a or RandomSampler({}, 9).select(pool, 3) != a


def test_samplers_never_return_more_than_the_pool():
    for cls in (UCB1Sampler, GreedySampler, RandomSampler):
        assert len(cls({}, 0).select(POOL[:1], 3)) == 1
