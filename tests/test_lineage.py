"""Lineage as rows (the ``lineage`` table) and browsing a run store with datasette."""

from __future__ import annotations

import itertools
import json
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
import yaml
from conftest import HARNESS
from helpers import OLD_RUN, openai_run, toy_answer

from harness import db as store
from harness.nodes import Node
from harness.testing.llm_server import FakeLLMServer

DATASETTE = Path(sys.executable).with_name("datasette")

Edge = tuple[int, int, str]


def expected_edges(rows: list[tuple[int, str | None]]) -> set[Edge]:
    """The oracle: (child, parent, role) from each node's ``parent_ids`` text; a node shown
    twice keeps its first role."""
    edges = set()
    for child, text in rows:
        roles: dict[int, str] = {}
        for i, parent in enumerate(json.loads(text or "[]")):
            roles.setdefault(parent, "parent" if i == 0 else "reference")
        edges |= {(child, parent, role) for parent, role in roles.items()}
    return edges


def stored_edges(db: sqlite_utils.Database) -> set[Edge]:
    rows = db.execute("select child, parent, role from lineage").fetchall()
    assert len(rows) == len(set(rows))
    return set(rows)


def parent_ids(db: sqlite_utils.Database) -> list[tuple[int, str | None]]:
    return db.execute("select id, parent_ids from nodes order by id").fetchall()


@pytest.fixture(scope="module")
def circle_run(tmp_path_factory) -> Path:
    """A real offline circle_packing run of 10 evaluations."""
    run_dir = tmp_path_factory.mktemp("lineage") / "run"
    result = subprocess.run(
        [
            str(HARNESS),
            "run",
            "+task=circle_packing",
            "run.max_evaluations=10",
            f"hydra.run.dir={run_dir}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return run_dir


def test_a_run_stores_one_parent_edge_per_node_and_its_references(circle_run):
    db = store.open_db(circle_run, migrate=False)
    rows = parent_ids(db)
    edges = stored_edges(db)
    assert edges == expected_edges(rows)
    parents = {child: parent for child, parent, role in edges if role == "parent"}
    for node_id, text in rows:
        ids = json.loads(text)
        assert parents.get(node_id) == (ids[0] if ids else None), node_id
    assert set(parents) == {node_id for node_id, _ in rows} - {0}
    assert any(role == "reference" for _, _, role in edges), "the sampler showed references"


def _m008_store(path: Path, rows: list[tuple[int, str]]) -> None:
    """A store as the harness of migration m008 left it, holding nodes with ``rows``."""
    db = sqlite_utils.Database(path)
    store.migrations.apply(db, stop_before="m009_lineage")
    assert [m.name for m in store.migrations.applied(db)][-1] == "m008_noise"
    assert not db["lineage"].exists()
    db["runs"].insert({"id": 1, "task": "toy", "status": "finished", "sessions": 1})
    db["nodes"].insert_all(
        {
            "id": node_id,
            "run_id": 1,
            "parent_ids": text,
            "name": f"n{node_id}",
            "status": "evaluated" if node_id < len(rows) - 1 else "pending",
            "score": float(node_id),
        }
        for node_id, text in rows
    )
    db.close()


def test_a_store_of_m008_gets_its_lineage_back_filled_and_kept_up(tmp_path):
    pick = random.Random(0)
    rows = [(0, "[]"), (1, "[0]"), (2, "[0, 1]"), (3, "[2, 2, 1]")]
    for node_id in range(4, 600):
        shown = pick.sample(range(node_id), min(node_id, pick.randint(1, 4)))
        rows.append((node_id, json.dumps(shown)))
    _m008_store(tmp_path / store.DB_NAME, rows)

    db = store.open_db(tmp_path, migrate=True)
    assert store.migrations.pending(db) == []
    assert stored_edges(db) == expected_edges(rows)
    assert {(3, 2, "parent"), (3, 1, "reference")} <= stored_edges(db)
    links = {(fk.column, fk.other_table, fk.other_column) for fk in db["lineage"].foreign_keys}
    assert links == {("child", "nodes", "id"), ("parent", "nodes", "id")}

    # The pending round, committed again on resume, and a new one: edges once each.
    pending = store.read_node(db, len(rows) - 1)
    new = Node(len(rows), run_id=1, parent_ids=[5, 7, 5])
    for status in ("pending", "evaluated"):
        pending.status = new.status = status
        store.commit(db, pending)
        store.commit(db, new)
    everything = [*rows, (new.id, json.dumps(new.parent_ids))]
    assert stored_edges(db) == expected_edges(everything)


def test_a_store_of_the_m006_release_gets_its_lineage_back_filled(tmp_path):
    shutil.copyfile(OLD_RUN, tmp_path / store.DB_NAME)
    db = store.open_db(tmp_path)
    rows = parent_ids(db)
    assert len(rows) == 8 and stored_edges(db) == expected_edges(rows)


# ----------------------------------------------------------------------- datasette
def _answers() -> Any:
    """Distinct programs, every third of which raises (a failed node), and analyses."""
    numbers = itertools.count()

    def answer(request: dict[str, Any]) -> str:
        if "<analysis>" in json.dumps(request["messages"]):
            return "<analysis>Fine.</analysis>"
        n = next(numbers)
        body = "    raise ValueError('no')\n" if n % 3 == 2 else f"    return 2.0 + {n}\n"
        return toy_answer(f"def f():\n{body}", name=f"try-{n}")

    return answer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def served(tmp_path_factory, request) -> tuple[str, sqlite_utils.Database]:
    """A toy run against the loopback LLM server (failures, priced LLM calls), served by
    ``datasette serve`` with our metadata: (its base URL, a reader of the store)."""
    run_dir = tmp_path_factory.mktemp("served")
    with FakeLLMServer(default=_answers()) as server:
        openai_run(
            run_dir,
            server,
            "llm.max_retries=0",
            "llm.usd_per_mtok_in=1.5",
            "llm.usd_per_mtok_out=6",
            "run.max_evaluations=9",
        )
    port = _free_port()
    log = (run_dir / "datasette.log").open("w")
    proc = subprocess.Popen(
        [
            str(DATASETTE),
            "serve",
            str(run_dir / store.DB_NAME),
            "--metadata",
            str(store.datasette_metadata_path()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--setting",
            "sql_time_limit_ms",
            "5000",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()

    request.addfinalizer(stop)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            pytest.fail(
                f"datasette exited ({proc.returncode}):\n{(run_dir / 'datasette.log').read_text()}"
            )
        try:
            _get(f"{url}/-/versions.json")
            break
        except OSError:
            assert time.monotonic() < deadline, "datasette did not answer within 60 s"
            time.sleep(0.1)
    return url, store.open_db(run_dir, migrate=False)


def test_datasette_accepts_our_metadata(served):
    url, _ = served
    assert _get(f"{url}/-/metadata.json") == yaml.safe_load(
        store.datasette_metadata_path().read_text()
    )
    tables = {t["name"] for t in _get(f"{url}/harness.json")["tables"]}
    assert {"runs", "nodes", "lineage", "llm_calls", "inspirations", "reevaluations"} <= tables


def test_best_path_walks_from_the_best_node_to_the_seed(served):
    url, db = served
    best = store.best_node(db)
    assert best is not None and best[0] != 0
    chain = [best[0]]
    while chain[-1] != 0:
        chain.append(store.get_node(db, chain[-1])["parent_ids"][0])
    steps = _get(f"{url}/harness/best_path.json?_shape=array")
    assert [s["node"] for s in steps] == chain
    assert [s["step"] for s in steps] == list(range(len(chain)))
    for step in steps:
        node = store.get_node(db, step["node"])
        assert (step["name"], step["score"], step["status"]) == (
            node["name"],
            node["score"],
            node["status"],
        )


def test_lineage_rows_link_child_and_parent_nodes(served):
    url, db = served
    rows = _get(f"{url}/harness/lineage.json?_shape=array&_labels=on&_size=max")
    names = dict(db.execute("select id, name from nodes").fetchall())
    for row in rows:
        for end in ("child", "parent"):
            assert row[end]["label"] == names[row[end]["value"]], row
    linked = {(row["child"]["value"], row["parent"]["value"], row["role"]) for row in rows}
    assert linked == expected_edges(parent_ids(db))

    node = next(parent for _, parent, role in linked if role == "reference")
    children = _get(f"{url}/harness/children.json?_shape=array&node={node}")
    assert {(c["node"], node, c["role"]) for c in children} == {
        edge for edge in linked if edge[1] == node
    }


def test_failures_and_costs_are_summed_per_class_and_role(served):
    url, db = served
    failed = db.execute("select id, error_class from nodes where status = 'failed'").fetchall()
    classes = Counter(error_class for _, error_class in failed)
    assert classes, "the run had failures"
    rows = _get(f"{url}/harness/failures_by_error_class.json?_shape=array")
    assert {r["error_class"]: r["nodes"] for r in rows} == classes
    for row in rows:
        assert row["example_node"] == min(i for i, c in failed if c == row["error_class"])

    costs = _get(f"{url}/harness/cost_by_role.json?_shape=array")
    calls = list(db["llm_calls"].rows)
    assert {r["role"] for r in costs} == {"researcher", "analyzer"}
    for row in costs:
        mine = [c for c in calls if (c["role"], c["model"]) == (row["role"], row["model"])]
        assert row["calls"] == len(mine)
        assert row["tokens_in"] == sum(c["tokens_in"] for c in mine) > 0
        assert row["tokens_out"] == sum(c["tokens_out"] for c in mine)
        assert row["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in mine))
        assert row["cost_usd"] > 0
        mean = sum(c["latency_s"] for c in mine) / len(mine)
        assert row["mean_latency_s"] == pytest.approx(mean, abs=1e-3)


def test_status_prints_the_metadata_path_without_a_run_dir(cli):
    result = cli("status", "--datasette-metadata")
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path == store.datasette_metadata_path() and "best_path" in path.read_text()
