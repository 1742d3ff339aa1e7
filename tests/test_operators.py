"""Search operators (diff, full rewrite, crossover) and system-prompt variants, drawn per
round by weights or by the bandit, against the loopback OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import math
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from helpers import compose_config, openai_run, proposal_request, run_loop, toy_answer

from harness import db as store
from harness.llm.openai_proposer import create
from harness.llm.operators import PromptVariant, from_config
from harness.llm.prompts import PromptTemplates, researcher_prompt
from harness.loop import Run
from harness.testing.llm_server import FakeLLMServer

CROSSOVER_LINE = "This round is a crossover"
DIFF_LINE = "lines copied exactly from the parent program"
FULL_LINE = "def total_distance(points):"  # output.full.j2's example
VARIANTS = (
    "llm.system_variants=[{name: terse, text: 'Change as little as you can.'},"
    " {name: bold, text: 'Try a radically different approach.', weight: 2}]"
)
TEXTS = {"terse": "Change as little as you can.", "bold": "Try a radically different approach."}


def _system(request: str) -> str:
    return json.loads(request)[0]["content"]


def _user(request: str) -> str:
    return json.loads(request)[1]["content"]


def _researcher_calls(run_dir: Path) -> list[sqlite3.Row]:
    with sqlite3.connect(run_dir / "harness.db") as db:
        db.row_factory = sqlite3.Row
        return db.execute(
            "select n.id, n.operator, n.prompt_variant, n.parent_ids, c.request from nodes n"
            " join llm_calls c on c.node_id = n.id and c.role = 'researcher' order by n.id"
        ).fetchall()


def _program(run_dir: Path, node_id: int) -> str:
    return store.get_node(store.open_db(run_dir, migrate=False), node_id)["program"]


def _score(run_dir: Path, node_id: int) -> float | None:
    return store.get_node(store.open_db(run_dir, migrate=False), node_id)["score"]


def test_each_round_asks_in_its_operators_format_with_its_variant(tmp_path: Path):
    with FakeLLMServer(default=_distinct_answers()) as server:
        run_dir = tmp_path / "run"
        openai_run(
            run_dir,
            server,
            "llm.operators=[diff,full,crossover]",
            "llm.operator_weights=[1,1,2]",
            VARIANTS,
            "run.max_evaluations=12",
            "seed=5",
        )
    calls = _researcher_calls(run_dir)
    assert len(calls) >= 10
    assert {row["operator"] for row in calls} == {"diff", "full", "crossover"}
    assert {row["prompt_variant"] for row in calls} == {"terse", "bold"}
    for row in calls:
        system, user = _system(row["request"]), _user(row["request"])
        assert system.endswith(TEXTS[row["prompt_variant"]])
        expected = {"diff": DIFF_LINE, "full": FULL_LINE, "crossover": CROSSOVER_LINE}
        for operator, line in expected.items():
            assert (line in system) == (operator == row["operator"]), (row["id"], operator)
        parents = json.loads(row["parent_ids"])
        if row["operator"] != "crossover":
            assert "# Second parent" not in user
            continue
        # Both parents in full: the parent and the best-scoring reference.
        second = max(parents[1:], key=lambda i: _score(run_dir, i) or -math.inf)
        assert "# Second parent" in user and "Combine the parent and the second parent" in user
        for node_id in (parents[0], second):
            assert _program(run_dir, node_id).rstrip("\n") in user
            assert f"[N{node_id}]" in user
    # A round without references cannot cross over: it falls back to diff.
    first = calls[0]
    assert json.loads(first["parent_ids"]) == [0] and first["operator"] != "crossover"


def _bodies(server: FakeLLMServer, settings: dict, seeds: range) -> list[bytes]:
    """The researcher requests a back-end with ``settings`` sends for a few rounds."""

    async def ask() -> None:
        proposer = create({"model": "m", "base_url": server.base_url, **settings})
        for seed in seeds:
            await proposer.propose(proposal_request(seed=seed))
        await proposer.aclose()

    start = len(server.requests)
    asyncio.run(ask())
    return [json.dumps(r["messages"]).encode() for r in server.requests[start:]]


@pytest.mark.parametrize("mode", ["diff", "full"])
def test_operators_off_or_one_operator_send_what_edit_mode_sends(mode):
    """Off (the default) sends what ``edit_mode`` sends, byte for byte, and so does a run
    whose only operator has that format, whatever its ``edit_mode``."""
    other = "full" if mode == "diff" else "diff"
    with FakeLLMServer(default=_distinct_answers()) as server:
        off = _bodies(server, {"edit_mode": mode}, range(3))
        one = _bodies(server, {"edit_mode": other, "operators": [mode]}, range(3))
        changed = _bodies(server, {"edit_mode": other}, range(3))
    assert off == one and len(off) == 3
    assert changed != off


def _crossover_improves():
    """Crossover answers score above everything before them, diff and full answers below
    everything before them, so only crossover ever improves on its parent."""
    numbers = itertools.count(1)

    def answer(request: dict) -> str:
        messages = request["messages"]
        if "<analysis>" in json.dumps(messages):
            return "<analysis>ok</analysis>"
        n = next(numbers)
        good = CROSSOVER_LINE in messages[0]["content"]
        value = 2 + n / 1000 if good else 1 - n / 1000  # the toy caps scores at 10
        return toy_answer(f"def f():\n    return {value}\n")

    return answer


BANDIT = (
    "+task=toy",
    "llm=openai",
    "llm.model=m",
    "llm.edit_mode=full",
    "llm.operators=[diff,full,crossover]",
    "llm.operator_policy=bandit",
    "run.workers=1",
    "seed=7",
)


@pytest.fixture(scope="module")
def bandit_run(tmp_path_factory) -> tuple[Path, object]:
    """A bandit run of 15 evaluations, resumed to 36, whose crossover answers improve."""
    run_dir = tmp_path_factory.mktemp("bandit") / "run"
    with FakeLLMServer(default=_crossover_improves()) as server:
        overrides = [*BANDIT, f"llm.base_url={server.base_url}"]

        def run(evaluations: int, resume: bool = False) -> object:
            args = [*overrides, f"run.max_evaluations={evaluations}"]
            loop = Run(compose_config(*args), run_dir, args, resume=resume)
            asyncio.run(loop.execute())
            return loop.proposer.operators

        run(15)
        operators = run(36, resume=True)
    return run_dir, operators


def test_the_bandit_shifts_its_draws_toward_the_operator_that_improves(bandit_run):
    run_dir, operators = bandit_run
    calls = _researcher_calls(run_dir)
    used = Counter(row["operator"] for row in calls)
    assert set(used) <= {"diff", "full", "crossover"} and sum(used.values()) == 35
    # Margin: drawn uniformly (weights), the 29 rounds after the first 6 would hold
    # Binomial(29, 1/3) crossovers: P(X >= 20) = 9.4e-5. The bandit, once crossover has
    # improved a few times (Beta(1 + k, 1) against Beta(1, 1 + m)), draws it far more.
    late = Counter(row["operator"] for row in calls[6:])
    assert late["crossover"] >= 20, used
    # The resumed bandit counted the first session's rounds too (replayed from the store).
    arms = operators.arms
    assert {name: arms[name].proposals for name in used} == dict(used)
    assert arms["crossover"].improvements == arms["crossover"].proposals
    assert arms["diff"].improvements == arms["full"].improvements == 0


def test_status_shows_each_operator_with_its_improvements(bandit_run, cli):
    run_dir, _ = bandit_run
    used = Counter(row["operator"] for row in _researcher_calls(run_dir))
    result = cli("status", str(run_dir))
    assert result.returncode == 0, result.stderr
    crossovers = used["crossover"]
    assert f"operator           crossover: {crossovers} nodes, {crossovers} improved" in (
        result.stdout
    )
    assert f"operator           diff: {used['diff']} nodes, 0 improved" in result.stdout
    rows = json.loads(cli("status", str(run_dir), "--json").stdout)["operators"]
    assert {row["name"]: row["nodes"] for row in rows} == dict(used)


def test_a_recorded_bandit_run_replays_bit_exactly(bandit_run, tmp_path):
    """One session of 36 evaluations replays the recorded (resumed) run: the bandit, fed
    the same outcomes, draws the same operators, so every prompt finds its answer."""
    run_dir, _ = bandit_run
    replay = tmp_path / "replay"
    run_loop(
        replay,
        "+task=toy",
        "run.workers=1",
        "seed=7",
        "run.max_evaluations=36",
        "llm=replay",
        f"llm.source={run_dir}",
    )
    fields = "id, parent_ids, operator, program, score, status, edit"
    with sqlite3.connect(run_dir / "harness.db") as a, sqlite3.connect(replay / "harness.db") as b:
        recorded = a.execute(f"select {fields} from nodes order by id").fetchall()
        replayed = b.execute(f"select {fields} from nodes order by id").fetchall()
    assert replayed == recorded


def test_the_offline_proposer_honours_the_operator(tmp_path: Path):
    run_dir = tmp_path / "offline"
    run_loop(
        run_dir,
        "+task=toy",
        "llm.operators=[diff,crossover]",
        "run.workers=1",
        "run.max_evaluations=12",
        "seed=4",
    )
    db = store.open_db(run_dir, migrate=False)
    nodes = list(db["nodes"].rows_where("id > 0", order_by="id"))
    assert {node["operator"] for node in nodes} == {"diff", "crossover"}
    for node in nodes:
        recombined = node["motivation"].startswith("Recombination with node")
        if node["operator"] == "diff":
            assert not recombined
        elif recombined:  # with the second parent: the best-scoring reference
            parents = json.loads(node["parent_ids"])
            second = max(parents[1:], key=lambda i: _score(run_dir, i) or -math.inf)
            assert node["motivation"].startswith(f"Recombination with node {second} ")
    assert any(n["motivation"].startswith("Recombination") for n in nodes)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"operators": ["diff", "mutate"]}, "Unknown operator 'mutate'"),
        ({"operators": ["diff", "diff"]}, "lists an operator twice"),
        ({"operators": ["diff"], "operator_weights": [1, 2]}, r"2 weight\(s\) for 1 operator"),
        ({"operators": ["diff", "full"], "operator_weights": [1, 0]}, "must be a number > 0"),
        ({"system_variants": [{"name": "a"}]}, "exactly one of text and template"),
        ({"system_variants": [{"name": "a", "txt": "x"}]}, r"unknown key\(s\) \['txt'\]"),
        ({"system_variants": [{"text": "x"}]}, "needs a name"),
        ({"operators": ["diff"], "roles": {"researcher": {"operators": ["full"]}}}, "unknown"),
    ],
)
def test_bad_operator_settings_fail_before_the_run(settings, message):
    with pytest.raises(ValueError, match=message):
        create({"model": "m", **settings})


def test_an_unknown_policy_fails_when_the_config_is_composed():
    with pytest.raises(Exception, match="operator_policy"):
        compose_config("+task=toy", "llm=openai", "llm.operator_policy=ucb")


def _distinct_answers():
    """Distinct programs scoring 2 + n/1000 (dedupe would skip repeats), whatever the
    operator asked for: a whole program in <code> is accepted in every format."""
    numbers = itertools.count(1)

    def answer(request: dict) -> str:
        if "<analysis>" in json.dumps(request["messages"]):
            return "<analysis>ok</analysis>"
        return toy_answer(f"def f():\n    return {2 + next(numbers) / 1000}\n")

    return answer


def test_a_template_variant_is_rendered_with_the_researcher_variables(tmp_path: Path):
    (tmp_path / "style.j2").write_text("Write {{ task.name }} code in the {{ variant.name }} way.")
    request = dataclasses.replace(
        proposal_request(), variant=PromptVariant("plain", template="style.j2")
    )
    system = researcher_prompt(request, "diff", 60_000, templates=PromptTemplates(tmp_path))[0]
    assert system["content"].endswith("\n\nWrite sum code in the plain way.")


def test_weights_draw_each_operator_in_proportion():
    operators = from_config(
        {"operators": ["diff", "full", "crossover"], "operator_weights": [1, 1, 2]}
    )
    assert operators is not None
    request = proposal_request()
    drawn = Counter(
        operators.assign(dataclasses.replace(request, seed=s)).operator.name for s in range(4000)
    )
    for name, share in {"diff": 0.25, "full": 0.25, "crossover": 0.5}.items():
        assert abs(drawn[name] / 4000 - share) < 0.03, drawn
