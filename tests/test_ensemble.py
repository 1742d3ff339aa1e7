"""The researcher as an ensemble of models: fixed weights, and a cost-aware bandit that
learns from the loop's outcomes, live and again on resume."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from helpers import compose_config, toy_answer

from harness.llm.base import Outcome
from harness.llm.ensemble import EnsembleProposer
from harness.llm.openai_proposer import create
from harness.loop import Run
from harness.testing.llm_server import FakeLLMServer


def ensemble(policy: str, *members: dict) -> EnsembleProposer:
    proposer = create({"model": "shared", "ensemble": list(members), "ensemble_policy": policy})
    researcher = proposer.by_role["researcher"]
    assert isinstance(researcher, EnsembleProposer)
    return researcher


def shares(researcher: EnsembleProposer, draws: int = 2000) -> Counter:
    return Counter(researcher.choose(seed).model for seed in range(draws))


def teach(researcher: EnsembleProposer, model: str, proposals: int, improved: int, cost: float):
    for index in range(proposals):
        researcher.observe(Outcome(index, model, index < improved, cost, tokens=100))


def test_fixed_weights_pick_members_in_proportion():
    researcher = ensemble("weights", {"model": "big", "weight": 3}, {"model": "small"})
    counts = shares(researcher, 4000)
    assert abs(counts["big"] / 4000 - 0.75) < 0.03
    assert researcher.choose(11).model == researcher.choose(11).model


def test_members_inherit_the_researcher_settings_and_override_them():
    proposer = create(
        {
            "model": "shared",
            "temperature": 0.2,
            "roles": {"researcher": {"max_tokens": 512}},
            "ensemble": [{"model": "a"}, {"model": "b", "temperature": 1.0, "edit_mode": "full"}],
        }
    )
    a, b = (member.proposer for member in proposer.by_role["researcher"].members)
    assert (a.temperature, a.max_tokens, a.edit_mode) == (0.2, 512, "diff")
    assert (b.temperature, b.max_tokens, b.edit_mode) == (1.0, 512, "full")
    assert proposer.model == "shared"


def test_the_bandit_prefers_the_model_that_improves():
    researcher = ensemble("bandit", {"model": "good"}, {"model": "poor"})
    teach(researcher, "good", 30, 12, 0.01)
    teach(researcher, "poor", 30, 1, 0.01)
    assert shares(researcher)["good"] > 0.9 * 2000


def test_the_bandit_weighs_improvements_against_cost():
    priced = {"usd_per_mtok_in": 1.0, "usd_per_mtok_out": 1.0}
    researcher = ensemble("bandit", {"model": "strong", **priced}, {"model": "cheap", **priced})
    teach(researcher, "strong", 40, 16, cost=1.0)  # 0.4 improvements per dollar
    teach(researcher, "cheap", 40, 8, cost=0.05)  # 4 improvements per dollar
    assert shares(researcher)["cheap"] > 0.9 * 2000


def test_without_prices_the_bandit_weighs_tokens():
    researcher = ensemble("bandit", {"model": "verbose"}, {"model": "terse"})
    for index in range(40):
        researcher.observe(Outcome(index, "verbose", index < 16, None, tokens=10_000))
        researcher.observe(Outcome(index, "terse", index < 12, None, tokens=500))
    assert shares(researcher)["terse"] > 0.9 * 2000


def test_an_untried_member_still_gets_tried():
    researcher = ensemble("bandit", {"model": "tried"}, {"model": "new"})
    teach(researcher, "tried", 50, 5, 0.01)
    assert shares(researcher)["new"] > 0.5 * 2000


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([{"model": "a"}, {"model": "a"}], "two members share a model name"),
        ([{"model": "a", "weight": 0}], r"llm.ensemble\[0\].weight must be a number > 0"),
        ([{"model": "a"}, {"model": "b", "temprature": 1}], r"llm.ensemble\[1\]: unknown"),
        ([{"model": "a", "ensemble": []}], r"llm.ensemble\[0\]: unknown"),
    ],
)
def test_bad_members_are_refused_at_creation(members, message):
    with pytest.raises(ValueError, match=message):
        create({"model": "shared", "ensemble": members})


def test_an_unknown_policy_fails_when_the_config_is_composed():
    with pytest.raises(Exception, match="ensemble_policy"):
        compose_config("+task=toy", "llm=openai", "llm.ensemble_policy=ucb")


def _two_models():
    """``good`` always writes a program scoring above everything so far; ``poor`` never."""
    numbers = itertools.count(1)

    def answer(request: dict) -> str:
        if "<analysis>" in json.dumps(request["messages"]):
            return "<analysis>ok</analysis>"
        n = next(numbers)
        value = 2 + n / 1000 if request["model"] == "good" else 0.1 + n / 100_000
        return toy_answer(f"def f():\n    return {value}\n")

    return answer


def test_a_bandit_run_learns_and_keeps_learning_after_resume(tmp_path: Path, cli):
    with FakeLLMServer(default=_two_models()) as server:
        overrides = [
            "+task=toy",
            "llm=openai",
            f"llm.base_url={server.base_url}",
            "llm.model=unused",
            "llm.edit_mode=full",
            "llm.ensemble=[{model: good}, {model: poor}]",
            "llm.ensemble_policy=bandit",
            "run.workers=1",
            "seed=3",
        ]
        run_dir = tmp_path / "run"

        def run(evaluations: int, resume: bool = False) -> EnsembleProposer:
            args = [*overrides, f"run.max_evaluations={evaluations}"]
            loop = Run(compose_config(*args), run_dir, args, resume=resume)
            asyncio.run(loop.execute())
            return loop.proposer.by_role["researcher"]

        run(12)
        researcher = run(40, resume=True)
    with sqlite3.connect(run_dir / "harness.db") as db:
        used = Counter(
            model
            for (model,) in db.execute("select model from llm_calls where role = 'researcher'")
        )
    assert set(used) == {"good", "poor"}
    assert used["good"] > 2 * used["poor"]
    counts = {member.model: member.proposals for member in researcher.members}
    assert counts == dict(used)
    good = next(member for member in researcher.members if member.model == "good")
    assert good.improvements == good.proposals

    status = cli("status", str(run_dir))
    assert status.returncode == 0, status.stderr
    assert f"researcher good: {used['good']} calls" in status.stdout
    assert f"{used['good']} improved" in status.stdout
    assert f"researcher poor: {used['poor']} calls" in status.stdout
    assert "0 improved" in status.stdout
