"""The web view: the tree layout, the queries on real stores, the served routes (read-only,
escaping, old stores, a run that writes while it is served) and the one-file report."""

from __future__ import annotations

import json
import re
import shutil
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import HARNESS
from helpers import OLD_RUN, distinct_toy_answers, openai_run
from starlette.testclient import TestClient

from harness import db as store
from harness.web import queries, stores
from harness.web.app import create_app
from harness.web.layout import ISLAND_GAP, Place, layout
from harness.web.report import build, detail_ids

PRICES = ("llm.usd_per_mtok_in=2.0", "llm.usd_per_mtok_out=8.0")
HOSTILE = "</script><b>bold</b>"


# ------------------------------------------------------------------------------ layout
def test_layout_centres_parents_over_their_children():
    places = layout([(0, None, None), (1, 0, None), (2, 0, None), (3, 1, None), (4, 1, None)])
    assert places == {
        3: Place(0, 2),
        4: Place(1, 2),
        1: Place(0.5, 1),
        2: Place(2, 1),
        0: Place(1.25, 0),
    }


def test_layout_puts_islands_side_by_side():
    # Children come by island, then id; a gap separates the islands' leaves.
    places = layout([(0, None, None), (1, 0, 1), (2, 0, 0), (3, 0, 0)])
    assert [places[i].x for i in (2, 3, 1)] == [0, 1, 2 + ISLAND_GAP]
    assert places[0] == Place((0 + 2 + ISLAND_GAP) / 2, 0)


def test_layout_of_a_long_chain_and_an_orphan():
    chain = [(0, None, None)] + [(i, i - 1, 0) for i in range(1, 5000)]
    places = layout([*chain, (9999, 4242424, None)])  # its parent is not in the store
    assert places[4999] == Place(0, 4999) and places[0] == Place(0, 0)
    assert places[9999].y == 0 and places[9999].x > 0


# ------------------------------------------------------------------------------ stores
@pytest.fixture(scope="module")
def root(tmp_path_factory, request) -> Path:
    """A folder of runs: a real ``harness run`` of circle_packing (offline proposer) and a
    toy run against the loopback OpenAI-compatible server with prices (LLM rows)."""
    from harness.testing.llm_server import FakeLLMServer

    top = tmp_path_factory.mktemp("served")
    made = subprocess.run(
        [str(HARNESS), "run", "+task=circle_packing", "run.max_evaluations=12",
         f"hydra.run.dir={top / 'cp'}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    answers = distinct_toy_answers(2.0, analysis="It returned a bigger number.")
    with FakeLLMServer(default=answers) as server:
        openai_run(top / "llm", server, "llm.max_retries=0", "run.max_evaluations=4", *PRICES)
    return top


def _copy(run_dir: Path, to: Path) -> Path:
    to.mkdir(parents=True)
    source = sqlite3.connect(run_dir / store.DB_NAME)
    with sqlite3.connect(to / store.DB_NAME) as target:
        source.backup(target)
    source.close()
    target.close()
    return to


def _best(run_dir: Path) -> int:
    with stores.reading(run_dir) as db:
        best = store.best_node(db)
    assert best is not None
    return best[0]


def test_the_served_folder_lists_its_runs_and_sweeps(root):
    served = stores.scan(root)
    assert set(served.runs) == {"cp", "llm"}
    assert served.sweeps == {".": ["cp", "llm"]}  # two run directories right in it
    assert list(stores.scan(root / "cp").runs) == ["."]
    assert stores.scan(root / "cp" / "artifacts").runs == {}


def test_queries_on_a_real_store(root):
    with stores.reading(root / "cp") as db:
        summary = queries.summary(db)
        tree = queries.tree(db)
        curves = queries.curves(db)
        parents = {r["id"]: json.loads(r["parent_ids"]) for r in db["nodes"].rows}
        best = queries.node_detail(db, summary["best_node"])
        seed = queries.node_detail(db, 0)
    assert tree["count"] == summary["nodes"] == len(parents) == 12
    for node in tree["nodes"]:
        assert node["parent"] == (parents[node["id"]] or [None])[0]
    path = tree["best_path"]
    assert path[0] == 0 and path[-1] == summary["best_node"]
    assert all(parents[child][0] == parent for parent, child in zip(path, path[1:], strict=False))
    assert {n["id"] for n in tree["nodes"] if n["best_path"]} == set(path)
    assert summary["best_known"] == pytest.approx(2.635983)  # circle_packing's spec says it
    points = curves["points"]
    assert [p["index"] for p in points] == list(range(1, 13))
    running = None
    for point in points:
        if point["score"] is not None:
            running = point["score"] if running is None else max(running, point["score"])
        assert point["best"] == running and point["seconds"] >= 0
    assert points[-1]["best"] == pytest.approx(summary["best_score"])
    assert not curves["has_cost"] and points[-1]["cost"] is None
    assert best is not None and {"add", "del", "hunk"} <= {kind for kind, _ in best["diff"]}
    assert seed is not None and seed["parent"] is None
    assert {kind for kind, _ in seed["diff"]} == {"ctx"}
    assert seed["children"] == sorted(i for i, p in parents.items() if p and p[0] == 0)


def test_llm_exchanges_and_cost_of_a_node(root):
    with stores.reading(root / "llm") as db:
        detail = queries.node_detail(db, 1)
        curves = queries.curves(db)
        total = db.execute("select sum(cost_usd) from llm_calls").fetchone()[0]
    assert detail is not None
    roles = [call["role"] for call in detail["llm"]]
    assert roles == ["researcher", "analyzer"]
    researcher = detail["llm"][0]
    assert [m["role"] for m in researcher["messages"]][:1] == ["system"]
    assert "<code>" in researcher["response"] and researcher["cost_usd"] > 0
    assert curves["has_cost"] and curves["points"][-1]["cost"] == pytest.approx(total)
    costs = [p["cost"] for p in curves["points"]]
    assert costs == sorted(costs)


# ------------------------------------------------------------------------------ routes
@pytest.fixture(scope="module")
def client(root) -> TestClient:
    return TestClient(create_app(root, refresh_s=1.5))


def test_pages_and_json(client, root):
    best = _best(root / "cp")
    page = client.get("/")
    assert page.status_code == 200 and 'data-page="runs"' in page.text
    assert re.findall(r'<tr class="run-row" data-run="([^"]+)"', page.text) == ["cp", "llm"]
    assert 'class="sweep-link" href="/sweep/_/"' in page.text
    run = client.get("/run/cp/")
    assert run.status_code == 200 and 'id="tree"' in run.text and 'id="curves-link"' in run.text
    assert f'data-node="{best}"' in run.text.split('id="best-path"')[1]
    assert '"refresh": 1.5' in run.text
    node = client.get(f"/run/cp/node/{best}")
    assert node.status_code == 200 and f'<section id="node" data-node="{best}">' in node.text
    assert '<span class="line add">' in node.text and 'id="parent-link"' in node.text
    llm = client.get("/run/llm/node/1").text
    assert llm.count('class="llm-exchange"') == 2 and 'data-role="researcher"' in llm
    assert '<span class="cost">$0.0' in llm
    assert 'id="curve-cost" class="plot"' in client.get("/run/llm/curves").text
    assert "No LLM cost recorded" in client.get("/run/cp/curves").text
    tree = client.get("/api/run/cp/tree.json").json()
    assert tree["count"] == 12 and tree["best_path"][-1] == best
    assert client.get("/api/run/cp/summary.json").json()["evaluated"] == 12
    assert len(client.get("/api/run/cp/curves.json").json()["points"]) == 12
    sweep = client.get("/sweep/_/")
    assert sweep.status_code == 200 and 'id="sweep-curves"' in sweep.text
    assert 'class="group-row"' in sweep.text
    assert f"<h1>Sweep <code>{root.name}</code></h1>" in sweep.text  # the folder's own name
    assert client.get("/static/vendor/plotly-basic.min.js").status_code == 200


@pytest.mark.parametrize(
    "url",
    ["/run/nope/", "/run/cp/node/999", "/api/run/../cp/tree.json", "/run/cp/artifacts/",
     "/sweep/cp/", "/static/../app.py"],
)  # fmt: skip
def test_unknown_keys_and_nodes_are_404(client, url):
    assert client.get(url).status_code == 404


def test_only_get(client):
    for url in ("/", "/run/cp/", "/api/run/cp/tree.json", "/static/harness.js"):
        assert client.post(url).status_code == 405
        assert client.delete(url).status_code == 405


def test_serving_opens_the_store_read_only_and_leaves_it_as_it_was(root, tmp_path, monkeypatch):
    run = _copy(root / "cp", tmp_path / "run")
    db_file = run / store.DB_NAME
    before = (db_file.read_bytes(), db_file.stat().st_mtime_ns)
    uris = []
    connect = sqlite3.connect

    def spy(database, *args, **kwargs):
        uris.append(database)
        return connect(database, *args, **kwargs)

    monkeypatch.setattr(stores.sqlite3, "connect", spy)
    client = TestClient(create_app(run))
    for url in ("/", "/run/_/", "/run/_/node/3", "/run/_/curves", "/api/run/_/tree.json"):
        assert client.get(url).status_code == 200, url
    assert uris and all("mode=ro" in uri for uri in uris)
    assert (db_file.read_bytes(), db_file.stat().st_mtime_ns) == before
    assert sorted(p.name for p in run.iterdir()) == [store.DB_NAME]  # no -wal, no -shm
    with stores.reading(run) as db, pytest.raises(sqlite3.OperationalError, match="readonly"):
        db.execute("delete from nodes")


def _strip_to_old_schema(run_dir: Path) -> None:
    """The store as a harness before citations, re-evaluations, prices and duplicates
    left it (the tables and columns those versions did not have)."""
    with sqlite3.connect(run_dir / store.DB_NAME) as db:
        for table in ("inspirations", "reevaluations", "lineage", "cognition_embeddings"):
            db.execute(f"drop table if exists {table}")
        for table, column in [
            ("llm_calls", "cost_usd"), ("llm_calls", "attempts"), ("llm_calls", "retryable"),
            ("nodes", "duplicate_of"), ("nodes", "stages"), ("nodes", "evaluations"),
            ("nodes", "samples"), ("nodes", "score_se"), ("nodes", "score_n"),
            ("nodes", "confirmation"), ("nodes", "features"),
        ]:  # fmt: skip
            db.execute(f"alter table {table} drop column {column}")
    db.close()


def test_stores_of_older_versions_render(root, tmp_path):
    _strip_to_old_schema(_copy(root / "llm", tmp_path / "old"))
    old_run = tmp_path / "m006"
    old_run.mkdir()
    shutil.copy(OLD_RUN, old_run / store.DB_NAME)  # a killed run stored by an older harness
    client = TestClient(create_app(tmp_path))
    for key in ("old", "m006"):
        for url in (f"/run/{key}/", f"/run/{key}/node/1", f"/run/{key}/curves",
                    f"/api/run/{key}/tree.json", f"/api/run/{key}/summary.json"):  # fmt: skip
            assert client.get(url).status_code == 200, url
    tree = client.get("/api/run/old/tree.json").json()
    assert tree["count"] > 1 and tree["best_path"][0] == 0
    assert client.get("/api/run/old/summary.json").json()["cost_usd"] is None
    assert 'class="llm-exchange"' in client.get("/run/old/node/1").text
    listed = re.search(r'data-run="m006">.*?class="status">(\w+)<', client.get("/").text, re.S)
    assert listed and listed.group(1) != "unreadable"


def test_programs_and_names_are_escaped(root, tmp_path):
    run = _copy(root / "cp", tmp_path / "run")
    with sqlite3.connect(run / store.DB_NAME) as db:
        db.execute("update nodes set program = ?, name = ? where id = 1", [HOSTILE, HOSTILE])
    db.close()
    client = TestClient(create_app(tmp_path))
    for text in (client.get("/run/run/node/1").text, client.get("/run/run/").text,
                 build(tmp_path)):  # fmt: skip
        assert HOSTILE not in text and "<b>bold" not in text
    node = client.get("/run/run/node/1").text
    assert "&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in node.split('<pre id="program">')[1]
    assert "\\u003c/script\\u003e" in client.get("/run/run/").text  # the tree's JSON


# ------------------------------------------------------------------------------ report
def test_report_details_the_best_path_first_then_by_score():
    scores = {0: 1.0, 1: 3.0, 2: None, 3: 2.0, 4: 0.5}
    tree = {"nodes": [{"id": i, "score": s} for i, s in scores.items()], "best_path": [0, 1]}
    assert detail_ids(tree, 3) == [0, 1, 3]
    assert detail_ids(tree, 10) == [0, 1, 3, 4, 2]


def test_report_is_one_file_with_fragment_links(root, tmp_path, cli):
    out = tmp_path / "report.html"
    result = cli("report", str(root / "cp"), "-o", str(out), "--max-nodes", "3")
    assert result.returncode == 0, result.stderr
    html = out.read_text()
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=", html)  # all inlined
    assert 'window.HARNESS = {"report": true, "start": "run-0"}' in html
    pages = re.findall(r'<template id="page-([^"]+)"', html)
    with stores.reading(root / "cp") as db:
        tree = queries.tree(db)
    nodes = [f"node-0-{i}" for i in detail_ids(tree, 3)]
    assert pages == ["runs", "run-0", "curves-0", *nodes, "missing"]
    hrefs = set(re.findall(r'href="([^"]*)"', html.split("<script>")[0]))  # not plotly's
    assert hrefs and all(h.startswith("#") for h in hrefs), hrefs
    assert len(re.findall(r'<tr class="node-row"', html)) == 12  # the whole node list


def test_report_of_a_folder_starts_at_the_runs_list(root, tmp_path, cli):
    out = tmp_path / "r.html"
    assert cli("report", str(root), "-o", str(out)).returncode == 0
    html = out.read_text()
    assert '"start": "runs"' in html and '<template id="page-sweep-0"' in html
    assert '<template id="page-node-1-1"' in html and 'class="llm-exchange"' in html


def test_bad_paths_are_clear_errors(tmp_path, cli):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("report", str(empty), "-o", str(tmp_path / "r.html"))
    assert result.returncode == 2 and "No run directories" in result.stderr
    assert "Traceback" not in result.stderr
    for command in ("serve", "report"):
        result = cli(command, str(tmp_path / "missing"))
        assert result.returncode == 2 and "does not exist" in result.stderr


# ------------------------------------------------------------------------------ serve
def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def _serve(path: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """``harness serve PATH --port 0``: the process and the URL it printed."""
    server = subprocess.Popen(
        [str(HARNESS), "serve", str(path), "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert server.stdout is not None
    line = server.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if not match:
        server.kill()
        raise AssertionError(f"no URL in {line!r}: {server.communicate()[1]}")
    return server, match.group(0)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_serve_follows_a_run_while_it_writes(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    server, url = _serve(runs, "--refresh", "0.5")
    writer = subprocess.Popen(
        [str(HARNESS), "run", "+task=toy", "task.sleep_s=0.2", "run.max_evaluations=15",
         "run.workers=1", f"hydra.run.dir={runs / 'live'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        counts: list[int] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (len(set(counts)) < 2):
            status, body = _get(url + "api/run/live/tree.json")
            if status == 200:
                counts.append(json.loads(body)["count"])
            else:
                assert status in (404, 503), status  # not there yet, or not readable yet
                assert writer.poll() is None, writer.communicate()[1]
            time.sleep(0.05)  # a poll interval, not a wait for the result
        assert len(set(counts)) >= 2 and counts == sorted(counts), counts
        assert _get(url)[0] == 200 and _get(url + "run/live/")[0] == 200
        request = urllib.request.Request(url + "run/live/", method="POST")
        with pytest.raises(urllib.error.HTTPError, match="405"):
            urllib.request.urlopen(request, timeout=10)
        assert writer.wait(timeout=120) == 0, writer.communicate()[1]
        status, body = _get(url + "api/run/live/summary.json")
        assert status == 200 and json.loads(body)["status"] == "finished"
    finally:
        _stop(writer)
        _stop(server)
    assert server.returncode == 0, server.communicate()[1]


def test_serve_warns_when_not_on_loopback(tmp_path):
    server = subprocess.Popen(
        [str(HARNESS), "serve", str(tmp_path), "--host", "0.0.0.0", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None and "Serving" in server.stdout.readline()
    finally:
        _stop(server)
    assert "not loopback" in server.communicate()[1]
