"""LLM accounting: tokens and USD per call from the configured prices, the run's total in
``harness status``, and ``run.max_cost_usd`` stopping a run cleanly."""

from __future__ import annotations

import asyncio
import json

import helpers
import pytest
from helpers import compose_config, distinct_toy_answers

from harness import db as store
from harness.loop import Run
from harness.testing.llm_server import FakeLLMServer

PRICES = ("llm.usd_per_mtok_in=2.0", "llm.usd_per_mtok_out=8.0")


def _answers():
    return distinct_toy_answers(2.0, analysis="It returned a bigger number.")


def openai_run(run_dir, server, *overrides):
    return helpers.openai_run(run_dir, server, "llm.max_retries=0", *overrides)


def test_each_call_is_priced_and_the_run_total_is_in_status(tmp_path, cli):
    with FakeLLMServer(default=_answers()) as server:
        summary = openai_run(tmp_path, server, "run.max_evaluations=4", *PRICES)
    calls = list(store.open_db(tmp_path)["llm_calls"].rows)
    assert len(calls) == 7  # 3 proposals, 4 analyses (the seed's too)
    for call in calls:
        assert call["tokens_in"] > 0 and call["tokens_out"] > 0
        expected = (call["tokens_in"] * 2.0 + call["tokens_out"] * 8.0) / 1e6
        assert call["cost_usd"] == pytest.approx(expected)
    total = sum(call["cost_usd"] for call in calls)
    assert summary["cost_usd"] == pytest.approx(total)
    status = json.loads(cli("status", str(tmp_path), "--json").stdout)
    assert status["cost_usd"] == pytest.approx(total) and status["tokens_in"] > 0


def test_without_prices_the_cost_is_unknown_not_zero(tmp_path):
    with FakeLLMServer(default=_answers()) as server:
        summary = openai_run(tmp_path, server, "run.max_evaluations=2")
    assert summary["cost_usd"] is None
    assert all(c["cost_usd"] is None for c in store.open_db(tmp_path)["llm_calls"].rows)


def test_max_cost_usd_stops_the_run_cleanly_and_resume_keeps_the_spend(tmp_path):
    overrides = ("run.max_evaluations=50", "run.max_cost_usd=0.004", *PRICES)
    with FakeLLMServer(default=_answers()) as server:
        summary = openai_run(tmp_path, server, *overrides)
        assert summary["status"] == "finished" and "max_cost_usd=0.004" in summary["stop_reason"]
        rounds = (
            store.open_db(tmp_path)
            .execute("select sum(cost_usd) from llm_calls group by node_id")
            .fetchall()
        )
        # No new round starts once the limit is reached: at most the one in flight is added.
        assert 0.004 <= summary["cost_usd"] < 0.004 + max(cost for (cost,) in rounds)
        evaluated = summary["evaluated"]
        assert 1 < evaluated < 50
        cfg = compose_config(
            "+task=toy",
            "llm=openai",
            f"llm.base_url={server.base_url}",
            "llm.model=m",
            *overrides,
        )
        after = asyncio.run(Run(cfg, tmp_path, resume=True).execute())
    assert after["evaluated"] == evaluated, "the money already spent still counts on resume"
    assert "max_cost_usd" in after["stop_reason"]
