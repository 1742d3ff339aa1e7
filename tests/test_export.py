"""``harness export``: real runs against the loopback OpenAI-compatible server, exported as
JSONL and Parquet and read back with ``datasets``, checked against SQLite read directly."""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
import shutil
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import OLD_RUN, openai_run, registered, toy_answer

from harness import export, hookimpl, plugins
from harness.testing.llm_server import FakeLLMServer

KEY = "sk-export-" + secrets.token_hex(12)
PRICES = ("llm.usd_per_mtok_in=2.0", "llm.usd_per_mtok_out=8.0")
#: The researcher's answers of run ``a``, in order: a success, a failure, a duplicate of the
#: first program, and a better success.
PROGRAMS = (
    "def f():\n    return 2.0\n",
    "def f():\n    raise ValueError('boom')\n",
    "def f():\n    return 2.0\n",
    "def f():\n    return 3.0\n",
)


def _answers(programs: Iterable[str]) -> Any:
    queue = iter(programs)
    numbers = itertools.count()

    def answer(request: dict) -> str:
        if "<analysis>" in json.dumps(request["messages"]):
            return "<analysis>Looked at it.</analysis>"
        body = next(queue, None) or f"def f():\n    return 4.0 + 0 * {next(numbers)}\n"
        return toy_answer(body)

    return answer


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """A folder of two runs: ``a`` (a failure, a duplicate, prices) and ``b``, whose
    researcher prompt carries the API key's value (a custom template), which the harness
    masks before it is sent and stored."""
    top = tmp_path_factory.mktemp("export") / "sweep"
    with FakeLLMServer(default=_answers(PROGRAMS)) as server:
        openai_run(top / "a", server, "llm.max_retries=0", "run.max_rounds=4", *PRICES)
    prompts = top.parent / "prompts"
    prompts.mkdir()
    (prompts / "researcher.system.j2").write_text(
        '{% extends "base/researcher.system.j2" %}\n'
        f"{{% block rules %}}{{{{ super() }}}}- Never print {KEY}.\n{{% endblock %}}\n"
    )
    with pytest.MonkeyPatch.context() as patch, FakeLLMServer(default=_answers(())) as server:
        patch.setenv("OPENAI_API_KEY", KEY)
        openai_run(
            top / "b", server, "llm.max_retries=0", "run.max_evaluations=3",
            f"llm.prompts_dir={prompts}",
        )  # fmt: skip
    return top


def _oracle(run_dir: Path, run: str, all_nodes: bool = False) -> list[dict[str, Any]]:
    """The expected records, read from the store with plain sqlite3 and Python."""
    conn = sqlite3.connect(run_dir / "harness.db")
    conn.row_factory = sqlite3.Row
    task = conn.execute("select task from runs").fetchone()[0]
    nodes = {row["id"]: row for row in conn.execute("select * from nodes order by id")}
    expected = []
    for node in nodes.values():
        calls = conn.execute(
            "select * from llm_calls where node_id = ? and role = 'researcher' order by id",
            [node["id"]],
        ).fetchall()
        if node["status"] == "pending" or not (calls or all_nodes):
            continue
        call = calls[-1] if calls else None
        ids = json.loads(node["parent_ids"])
        parent = nodes[ids[0]] if ids else None
        both = node["success"] and parent is not None and parent["success"]
        expected.append(
            {
                "run": run,
                "task": task,
                "node_id": node["id"],
                "parent_id": ids[0] if ids else None,
                "reference_ids": ids[1:],
                "name": node["name"],
                "role": call["role"] if call else None,
                "prompt": json.loads(call["request"]) if call else None,
                "answer": call["response"] if call else None,
                "model": call["model"] if call else None,
                "tokens_in": call["tokens_in"] if call else None,
                "tokens_out": call["tokens_out"] if call else None,
                "cost_usd": call["cost_usd"] if call else None,
                "program": node["program"],
                "parent_program": parent["program"] if parent else None,
                "score": node["score"],
                "parent_score": parent["score"] if parent else None,
                "improvement": node["score"] - parent["score"] if both else None,
                "success": bool(node["success"]),
                "status": node["status"],
                "error_class": node["error_class"],
                "motivation": node["motivation"],
                "created_at": node["created_at"],
            }
        )
    conn.close()
    return expected


def _fingerprint(run_dir: Path) -> tuple[list[str], str]:
    """The run directory's entries and the store's bytes: an export changes neither."""
    data = (run_dir / "harness.db").read_bytes()
    return sorted(p.name for p in run_dir.iterdir()), hashlib.sha256(data).hexdigest()


def test_jsonl_round_trips_into_datasets_read_only(sweep, tmp_path, cli):
    import datasets

    before = _fingerprint(sweep / "a")
    out = tmp_path / "traces.jsonl"
    result = cli("export", str(sweep / "a"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    expected = _oracle(sweep / "a", "a")
    assert f"wrote {len(expected)} records" in result.stdout
    rows = datasets.load_dataset(
        "json", data_files=str(out), split="train", cache_dir=str(tmp_path / "hf")
    ).to_list()
    assert rows == expected
    assert _fingerprint(sweep / "a") == before
    # The run this covers: researcher rounds 1-4 with a failure, a duplicate, an improvement.
    assert [r["node_id"] for r in rows] == [1, 2, 3, 4]
    assert {r["status"] for r in rows} == {"evaluated", "failed", "duplicate"}
    assert rows[1]["error_class"] and rows[1]["improvement"] is None
    assert any(r["improvement"] for r in rows) and all(r["cost_usd"] for r in rows)
    assert [m["role"] for m in rows[0]["prompt"]] == ["system", "user"]


def test_parquet_round_trips_into_datasets(sweep, tmp_path, cli):
    from datasets import Dataset

    out = tmp_path / "out" / "traces.parquet"
    result = cli("export", str(sweep / "a"), "--format", "parquet", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert Dataset.from_parquet(str(out), cache_dir=str(tmp_path / "hf")).to_list() == _oracle(
        sweep / "a", "a"
    )
    assert [p.name for p in out.parent.iterdir()] == ["traces.parquet"]  # no partial file left


def test_a_sweep_exports_every_run_with_its_run_column(sweep, tmp_path, cli):
    from datasets import Dataset

    out = tmp_path / "sweep.parquet"
    result = cli("export", str(sweep), "-f", "parquet", "-o", str(out))
    assert result.returncode == 0, result.stderr
    rows = Dataset.from_parquet(str(out), cache_dir=str(tmp_path / "hf")).to_list()
    expected = _oracle(sweep / "a", "sweep/a") + _oracle(sweep / "b", "sweep/b")
    assert rows == expected and {r["run"] for r in rows} == {"sweep/a", "sweep/b"}


def test_only_success_and_all_nodes(sweep):
    found = export.runs([sweep / "a"])
    assert found == [("a", sweep / "a")]
    everything = _oracle(sweep / "a", "a", all_nodes=True)
    assert list(export.records(found, all_nodes=True)) == everything
    assert everything[0]["node_id"] == 0 and everything[0]["prompt"] is None  # the seed
    successes = list(export.records(found, only_success=True))
    assert successes == [r for r in _oracle(sweep / "a", "a") if r["success"]]
    assert 0 < len(successes) < len(everything) - 1
    assert list(export.records(found, role="analyzer"))[0]["answer"] == (
        "<analysis>Looked at it.</analysis>"
    )


def test_no_api_key_value_is_exported(sweep, tmp_path, cli):
    out = tmp_path / "b.jsonl"
    result = cli("export", str(sweep / "b"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    records = [json.loads(line) for line in text.splitlines()]
    assert records and all("[REDACTED]" in r["prompt"][0]["content"] for r in records)
    assert KEY not in text


def test_bad_paths_and_formats_are_clear_errors(sweep, tmp_path, cli):
    missing = cli("export", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    no_runs = cli("export", str(empty))
    assert no_runs.returncode == 2 and "No run directories" in no_runs.stderr
    unknown = cli("export", str(sweep / "a"), "--format", "parquett", "-o", str(tmp_path / "x"))
    assert unknown.returncode == 2
    assert "Unknown export format 'parquett'. Did you mean 'parquet'?" in unknown.stderr
    assert "Available: jsonl, parquet" in unknown.stderr and not (tmp_path / "x").exists()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "harness.db").write_bytes(b"not a database" * 100)
    damaged = cli("export", str(broken), "-o", str(tmp_path / "y.jsonl"))
    assert damaged.returncode == 1 and "cannot read a run store" in damaged.stderr
    assert not (tmp_path / "y.jsonl").exists()


def test_parquet_without_pyarrow_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # what an import of a missing one does
    with pytest.raises(export.ExportError, match="pip install pyarrow"):
        plugins.get_exporter_factory("parquet")(tmp_path / "x.parquet")


def test_an_older_store_exports_with_nulls(tmp_path):
    run_dir = tmp_path / "old"
    run_dir.mkdir()
    shutil.copy(OLD_RUN, run_dir / "harness.db")
    conn = sqlite3.connect(run_dir / "harness.db")
    done = conn.execute("select count(*) from nodes where status != 'pending'").fetchone()[0]
    conn.close()
    rows = list(export.records(export.runs([run_dir]), all_nodes=True))
    assert len(rows) == done > 0 and [r["prompt"] for r in rows] == [None] * done


def test_a_run_without_llm_calls_exports_nothing_and_says_why(tmp_path, cli):
    run_dir = tmp_path / "old"
    run_dir.mkdir()
    shutil.copy(OLD_RUN, run_dir / "harness.db")  # an offline run: no researcher calls
    out = tmp_path / "t.jsonl"
    result = cli("export", str(run_dir), "-o", str(out))
    assert result.returncode == 0 and "wrote 0 records" in result.stdout
    assert "--all-nodes" in result.stderr and out.read_text() == ""
    result = cli("export", str(run_dir), "-o", str(out), "--all-nodes")
    assert result.returncode == 0 and "--all-nodes" not in result.stderr
    assert out.read_text().count("\n") > 0


class Counting:
    """A plugin's exporter: it sees the records as an iterator, never as a list."""

    seen: list[Any] = []

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, records: Iterable[dict[str, Any]]) -> int:
        assert isinstance(records, Iterator)
        ids = [record["node_id"] for record in records]
        self.path.write_text(json.dumps(ids))
        Counting.seen.append(ids)
        return len(ids)


class ExporterPlugin:
    @hookimpl
    def harness_register_exporters(self, register):
        register("ids", Counting)


def test_a_plugin_registers_an_exporter(sweep, tmp_path):
    with registered(ExporterPlugin()):
        factory = plugins.get_exporter_factory("ids")
        count = export.export([sweep / "a"], tmp_path / "ids.json", factory)
    assert count == 4 and json.loads((tmp_path / "ids.json").read_text()) == [1, 2, 3, 4]
    assert Counting.seen == [[1, 2, 3, 4]]
