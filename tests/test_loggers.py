"""Experiment trackers (``logger=NAME``): the built-in ``jsonl`` logger through real runs and
a resume, and a logger that fails or blocks, which must neither stop nor hold up the run."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import registered, run_loop

from harness import db as store
from harness.composition import OverrideError, check_overrides
from harness.hookspecs import hookimpl


def events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def status(cli, run_dir: Path) -> dict[str, Any]:
    result = cli("status", str(run_dir), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_jsonl_records_each_completed_node_and_the_end_and_a_resume_appends(tmp_path, cli):
    run_dir = tmp_path / "run"
    result = cli(
        "run", "+task=toy", "run.max_evaluations=4", "logger=jsonl", f"hydra.run.dir={run_dir}"
    )
    assert result.returncode == 0, result.stderr
    first = events(run_dir)
    assert [e["event"] for e in first[:1] + first[-1:]] == ["run_started", "run_finished"]
    assert first[0]["resume"] is False and "logger=jsonl" in first[0]["overrides"]
    assert (first[-1]["status"], first[-1]["reason"]) == ("finished", "max_evaluations=4 reached")
    steps = [e["evaluations"] for e in first if e["event"] == "node_completed"]
    assert steps == sorted(steps) and steps[-1] == first[-1]["summary"]["evaluated"] == 4

    resumed = cli("resume", str(run_dir), "run.max_evaluations=7")
    assert resumed.returncode == 0, resumed.stderr
    found = events(run_dir)
    assert found[: len(first)] == first
    assert [e["resume"] for e in found if e["event"] == "run_started"] == [False, True]
    later = [e for e in found[len(first) :] if e["event"] == "node_completed"]
    assert later and later[0]["evaluations"] == 5 and later[-1]["evaluations"] == 7
    summary = status(cli, run_dir)
    nodes = [e["node"] for e in found if e["event"] == "node_completed"]
    assert len(nodes) == len(set(nodes)) == summary["nodes"] - summary["pending"]
    assert later[-1]["best_score"] == summary["best_score"] == found[-1]["summary"]["best_score"]
    assert found[-1]["event"] == "run_finished" and found[-1]["reason"] == summary["stop_reason"]


def test_an_unknown_logger_is_named_with_the_choices():
    with pytest.raises(OverrideError, match=r"Did you mean 'jsonl'\? Available: jsonl,"):
        check_overrides(["+task=toy", "logger=jsonll"])


class Probe:
    """A logger plugin whose logger records its calls and fails where told to."""

    def __init__(self, fail_in: str | None = None, release: threading.Event | None = None):
        self.fail_in = fail_in
        self.release = release
        self.calls: list[str] = []

    @hookimpl
    def harness_register_loggers(self, register):
        register("probe", self.build)

    def build(self, config: dict[str, Any], run_dir: Path) -> Probe:
        self.call("factory")
        return self

    def call(self, name: str) -> None:
        self.calls.append(name)
        if name == self.fail_in:
            raise RuntimeError(f"probe failed in {name}")

    def run_started(self, info) -> None:
        if self.release is not None:
            self.release.wait(120)
        self.call("run_started")

    def node_completed(self, node, tally) -> None:
        self.call("node_completed")

    def run_finished(self, status, reason, summary) -> None:
        self.call(f"run_finished:{status}")

    def close(self) -> None:
        self.calls.append("close")


@pytest.mark.parametrize("fail_in", ["factory", "node_completed"])
def test_a_failing_logger_is_warned_about_once_and_the_run_goes_on(tmp_path, caplog, fail_in):
    probe = Probe(fail_in)
    with registered(probe, "probe"):
        summary = run_loop(tmp_path, "+task=toy", "run.max_evaluations=4", "logger.name=probe")
    assert (summary["status"], summary["evaluated"]) == ("finished", 4)
    warnings = [r for r in caplog.records if "logger probe failed" in r.getMessage()]
    assert len(warnings) == 1 and f"probe failed in {fail_in}" in warnings[0].getMessage()
    assert probe.calls[-1] == (fail_in if fail_in == "factory" else "close")
    assert probe.calls.count(fail_in) == 1  # never called again once it failed
    assert not any(call.startswith("run_finished") for call in probe.calls)


def _completed(run_dir: Path) -> int:
    uri = f"{(run_dir / store.DB_NAME).as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as con:
        query = "select count(*) from nodes where status in ('evaluated', 'failed')"
        return int(con.execute(query).fetchone()[0])


def test_a_blocked_logger_does_not_hold_the_run_up(tmp_path):
    """The logger hangs in ``run_started`` until every evaluation is stored: the rounds go
    on without it, and it still receives every call, in order, once it wakes up."""
    release = threading.Event()
    seen: dict[str, int] = {}

    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(sqlite3.Error):
                seen["completed"] = _completed(tmp_path)
                if seen["completed"] >= 5:
                    break
            time.sleep(0.05)
        release.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    probe = Probe(release=release)
    with registered(probe, "probe"):
        summary = run_loop(tmp_path, "+task=toy", "run.max_evaluations=5", "logger.name=probe")
    watcher.join()
    assert seen.get("completed") == summary["evaluated"] == 5
    completed = summary["nodes"] - summary["pending"]
    assert probe.calls == [
        "factory",
        "run_started",
        *["node_completed"] * completed,
        "run_finished:finished",
        "close",
    ]
