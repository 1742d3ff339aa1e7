"""The web view in a real headless Chromium, asserting on the rendered DOM.

``harness serve`` (a subprocess on a free port) serves a root holding a finished run with
real LLM exchanges (``llm=openai`` against the loopback test server) and a live offline
``circle_packing`` run that keeps writing while the browser goes runs list -> run tree ->
node page -> curves; then ``harness report`` of the same root is opened from file:// and
walked the same way. Every page's screenshot is saved (tests/browser.py: ``artifacts``).
Without chromium and chromedriver the module is skipped, unless HARNESS_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import difflib
import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import browser
import pytest
from helpers import toy_answer

from harness import db as store
from harness.testing.llm_server import FakeLLMServer

ANALYSIS = "The constant grew, so f() returned more."
_steps = itertools.count(1)


@dataclass
class Root:
    """The served folder: ``llm`` (finished, with LLM exchanges) and ``live`` (running)."""

    path: Path
    live: subprocess.Popen[bytes]

    def db(self, key: str) -> Any:
        return store.open_db(self.path / key, migrate=False)


def _answer(request: dict[str, Any]) -> str:
    """Distinct programs whose scores rise, and an analysis for analyzer requests."""
    if "<analysis>" in json.dumps(request["messages"]):
        return f"<analysis>{ANALYSIS}</analysis>"
    step = next(_steps)
    return toy_answer(f"def f():\n    step = {step}\n    return 2.0 + step / 100\n", f"up-{step}")


def _harness(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(browser.HARNESS), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the live run and its workers (its own process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def require_browser() -> None:
    """Skip when Chromium or its driver is missing, or fail where the environment says
    they must be there (CI sets HARNESS_REQUIRE_BROWSER=1)."""
    reason = browser.missing()
    if reason and os.environ.get("HARNESS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"HARNESS_REQUIRE_BROWSER=1 but {reason}")
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require_browser()
    chromium = browser.chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.quit()


@pytest.fixture(scope="module")
def root(driver: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Root]:
    """Needs ``driver`` only to be skipped (before any run starts) when it is."""
    path = tmp_path_factory.mktemp("served")
    log_path = tmp_path_factory.mktemp("logs") / "live.log"
    with open(log_path, "wb") as log:
        live = subprocess.Popen(
            [str(browser.HARNESS), "run", "+task=circle_packing", "run.workers=1"]
            + ["run.max_evaluations=100000", f"hydra.run.dir={path / 'live'}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        with FakeLLMServer(default=_answer) as server:
            result = _harness(
                "run",
                "+task=toy",
                "llm=openai",
                f"llm.base_url={server.base_url}",
                "llm.model=scripted-model",
                "llm.max_retries=0",
                "llm.edit_mode=full",
                "llm.usd_per_mtok_in=3",
                "llm.usd_per_mtok_out=15",
                "run.max_evaluations=5",
                "run.workers=1",
                f"hydra.run.dir={path / 'llm'}",
                OPENAI_API_KEY="sk-test",
            )
        assert result.returncode == 0, result.stderr
        served = Root(path, live)
        deadline = time.monotonic() + 120
        while _count(served, "live") < 2:
            assert live.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the live run wrote no 2 nodes in 120 s"
            time.sleep(0.2)
        yield served
    finally:
        _stop(live)


@pytest.fixture(scope="module")
def served(root: Root) -> Iterator[browser.Served]:
    with browser.Served(root.path, ["--refresh", "1"]) as server:
        yield server


def _count(root: Root, key: str) -> int:
    """Nodes in run ``key``'s store so far (0 before the run created it)."""
    if not (root.path / key / store.DB_NAME).exists():
        return 0
    try:
        return int(root.db(key).execute("select count(*) from nodes").fetchone()[0])
    except sqlite3.OperationalError:  # the run is creating its tables
        return 0


def _number(text: str) -> float:
    found = re.search(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", text.replace(",", ""))
    assert found, f"no number in {text!r}"
    return float(found.group(0))


# Elements that are shown: the report holds every section, only the current one displayed.
_SHOWN = (
    "return Array.from(document.querySelectorAll(arguments[0]))"
    ".filter(e => e.getClientRects().length > 0);"
)


def shown(driver: Any, css: str) -> list[Any]:
    return list(driver.execute_script(_SHOWN, css))


def one(driver: Any, css: str) -> Any:
    return browser.wait_for(driver, lambda d: (shown(d, css) or [None])[0], css)


def text(driver: Any, css: str) -> str:
    return str(one(driver, css).get_attribute("textContent"))


def page(driver: Any, name: str) -> None:
    browser.wait_for(
        driver,
        lambda d: d.find_element("css selector", "body").get_attribute("data-page") == name,
        f"the {name} page",
    )


def click(driver: Any, element: Any, name: str) -> None:
    """Follow a link as a user would, and wait for page ``name``."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()
    page(driver, name)


def _target(link: Any) -> int:
    """The node a parent or child link leads to: the number that ends its href."""
    found = re.search(r"(\d+)/?$", str(link.get_attribute("href")))
    assert found, link.get_attribute("href")
    return int(found.group(1))


def check_runs_list(driver: Any, root: Root) -> None:
    page(driver, "runs")
    one(driver, "#crumbs")
    rows = {row.get_attribute("data-run"): row for row in shown(driver, "#runs tr.run-row")}
    assert {"llm", "live"} <= set(rows), rows.keys()
    summary = store.summary(root.db("llm"))

    def cell(key: str, css: str) -> str:
        return str(rows[key].find_element("css selector", css).get_attribute("textContent"))

    assert "toy" in cell("llm", ".task") and "circle_packing" in cell("live", ".task")
    assert "finished" in cell("llm", ".status") and "running" in cell("live", ".status")
    assert _number(cell("llm", ".evaluated")) == summary["evaluated"]
    assert _number(cell("llm", ".best")) == pytest.approx(summary["best_score"], rel=5e-3)


def check_run_page(driver: Any, root: Root) -> None:
    """The llm run's page: its whole tree, the path to the best, the node list."""
    page(driver, "run")
    db = root.db("llm")
    summary = store.summary(db)
    tree = one(driver, "#tree.drawn")
    assert int(tree.get_attribute("data-nodes")) == summary["nodes"]
    assert driver.execute_script("return typeof window.harnessTreeDrawn") == "number"
    assert _number(text(driver, "#summary .best-score")) == pytest.approx(
        summary["best_score"], rel=5e-3
    )
    assert _number(text(driver, "#summary .evaluated")) == summary["evaluated"]
    path = [int(a.get_attribute("data-node")) for a in shown(driver, "#best-path a.node-link")]
    assert path[0] == 0 and path[-1] == summary["best_node"], path
    for child, parent in zip(path[1:], path, strict=False):
        assert store.get_node(db, child)["parent_ids"][0] == parent
    listed = [int(a.get_attribute("data-node")) for a in shown(driver, "#nodes a.node-link")]
    assert sorted(set(listed)) == list(range(summary["nodes"]))
    assert listed[0] == summary["nodes"] - 1, "newest first"


def _diff_lines(driver: Any) -> list[tuple[str, str]]:
    spans = driver.execute_script(
        "const pre = arguments[0]; return Array.from(pre.querySelectorAll('span.line'))"
        ".map(s => [s.className, s.textContent]);",
        one(driver, "#diff"),
    )
    lines = []
    for classes, line in spans:
        kinds = {"add", "del", "ctx", "hunk"} & set(classes.split())
        assert len(kinds) == 1, classes
        lines.append((kinds.pop(), line.rstrip("\n")))
    return lines


def _changed(lines: list[tuple[str, str]], kind: str, mark: str) -> list[str]:
    return [line[1:] if line.startswith(mark) else line for k, line in lines if k == kind]


def check_node_page(driver: Any, root: Root, node_id: int) -> None:
    """A child's page: diff against its parent, analysis, and each LLM exchange in full."""
    page(driver, "node")
    db = root.db("llm")
    node = store.get_node(db, node_id)
    parent = store.get_node(db, node["parent_ids"][0])
    assert int(one(driver, "#node").get_attribute("data-node")) == node_id
    assert _number(text(driver, "#node .score")) == pytest.approx(node["score"], rel=5e-3)
    lines = _diff_lines(driver)
    expected = list(
        difflib.unified_diff(
            parent["program"].splitlines(), node["program"].splitlines(), lineterm=""
        )
    )
    adds = [line[1:] for line in expected if line.startswith("+") and not line.startswith("+++")]
    dels = [line[1:] for line in expected if line.startswith("-") and not line.startswith("---")]
    assert adds and dels
    assert _changed(lines, "add", "+") == adds
    assert _changed(lines, "del", "-") == dels
    assert node["program"].strip() in text(driver, "#program")
    assert node["motivation"] in text(driver, "#motivation")
    assert ANALYSIS in text(driver, "#analysis")
    for name in node["metrics"]:
        assert name in text(driver, "#metrics")
    calls = list(db["llm_calls"].rows_where("node_id = ?", [node_id], order_by="id"))
    exchanges = shown(driver, "#llm article.llm-exchange")
    assert [e.get_attribute("data-role") for e in exchanges] == [c["role"] for c in calls]
    assert {c["role"] for c in calls} == {"researcher", "analyzer"}
    for exchange, call in zip(exchanges, calls, strict=True):

        def part(css: str, within: Any = exchange) -> str:
            return str(within.find_element("css selector", css).get_attribute("textContent"))

        messages = json.loads(call["request"])
        shown_messages = exchange.find_elements("css selector", ".prompt .message[data-role]")
        assert [m.get_attribute("data-role") for m in shown_messages] == [
            m["role"] for m in messages
        ]
        for element, message in zip(shown_messages, messages, strict=True):
            assert message["content"].strip() in element.get_attribute("textContent")
        assert call["response"].strip() in part(".answer")
        assert _number(part(".tokens-in")) == call["tokens_in"]
        assert _number(part(".tokens-out")) == call["tokens_out"]
        assert _number(part(".cost")) == pytest.approx(call["cost_usd"], rel=5e-2)
        assert "scripted-model" in part(".model") and part(".latency").strip()
    children = [_target(a) for a in shown(driver, "a.child-link")]
    expected_children = [
        row[0]
        for row in db.execute("select id, parent_ids from nodes order by id")
        if (json.loads(row[1]) or [None])[0] == node_id
    ]
    assert sorted(children) == expected_children


def check_seed_and_parent(driver: Any, root: Root, node_id: int, prefix: str) -> None:
    """``a#parent-link`` up to the parent, which links back; the seed's diff is all context."""
    db = root.db("llm")
    ancestors = []
    while node_id:
        node_id = store.get_node(db, node_id)["parent_ids"][0]
        ancestors.append(node_id)
    for step, parent_id in enumerate(ancestors):
        child = int(one(driver, "#node").get_attribute("data-node"))
        one(driver, "a#parent-link").click()
        browser.wait_for(
            driver,
            lambda d, parent_id=parent_id: (
                one(d, "#node").get_attribute("data-node") == str(parent_id)
            ),
            f"node {parent_id}'s page",
        )
        assert child in [_target(a) for a in shown(driver, "a.child-link")]
        if step == 0:
            browser.screenshot(driver, f"{prefix}-node-parent")
    assert not shown(driver, "a#parent-link"), "the seed has no parent"
    lines = _diff_lines(driver)
    assert {kind for kind, _ in lines} == {"ctx"}
    program = store.get_node(db, 0)["program"].splitlines()
    assert len(lines) == len(program)
    for (_, line), expected in zip(lines, program, strict=True):
        assert line in (expected, f" {expected}")


def _plot(driver: Any, css: str) -> list[dict[str, list[float]]]:
    """The traces Plotly drew in ``css`` (x and y of each)."""
    element = one(driver, f"{css}.drawn")
    return list(
        driver.execute_script(
            "return arguments[0].data.map(t => ({x: Array.from(t.x || []),"
            " y: Array.from(t.y || [])}));",
            element,
        )
    )


def back_to_run(driver: Any) -> None:
    """The node page's crumbs lead back to its run (their last link)."""
    click(driver, shown(driver, "#crumbs a")[-1], "run")


def check_curves(driver: Any, root: Root) -> None:
    page(driver, "curves")
    db = root.db("llm")
    scores = sorted(
        round(row[0], 9)
        for row in db.execute("select score from nodes where status = 'evaluated'").fetchall()
    )
    traces = _plot(driver, "#curve-evals")
    assert any(
        sorted(round(y, 9) for y in trace["y"] if isinstance(y, (int, float))) == scores
        for trace in traces
    ), traces
    best = store.summary(db)["best_score"]
    assert any(trace["y"] and trace["y"][-1] == pytest.approx(best) for trace in traces)
    assert _plot(driver, "#curve-time")
    # By the last evaluation: its own calls, maybe not the analysis that follows it.
    spent, total = db.execute(
        "select sum(cost_usd) filter (where created_at <= (select max(evaluated_at) from nodes)),"
        " sum(cost_usd) from llm_calls"
    ).fetchone()
    xs = [x for trace in _plot(driver, "#curve-cost") for x in trace["x"]]
    assert spent * (1 - 1e-6) <= max(xs) <= total * (1 + 1e-6)


def walk_the_llm_run(driver, root, prefix: str) -> None:
    """From the runs list: the LLM run's tree, its best node, that node's ancestry, and
    the run's curves, checking each page and saving its screenshot as ``prefix-*``."""
    row = one(driver, '#runs tr.run-row[data-run="llm"]')
    click(driver, row.find_element("css selector", "a.run-link"), "run")
    check_run_page(driver, root)
    browser.screenshot(driver, f"{prefix}-run")
    best = store.summary(root.db("llm"))["best_node"]
    click(driver, one(driver, f'#nodes a.node-link[data-node="{best}"]'), "node")
    check_node_page(driver, root, best)
    browser.screenshot(driver, f"{prefix}-node")
    check_seed_and_parent(driver, root, best, prefix)
    back_to_run(driver)
    click(driver, one(driver, "a#curves-link"), "curves")
    check_curves(driver, root)
    browser.screenshot(driver, f"{prefix}-curves")


def test_serve_walks_from_the_runs_list_to_the_curves(driver, root, served):
    driver.get(served.url)
    check_runs_list(driver, root)
    browser.screenshot(driver, "serve-runs")
    walk_the_llm_run(driver, root, "serve")


def test_serve_shows_the_live_run_growing(driver, root, served):
    before = _count(root, "live")
    driver.get(served.page("run/live/"))
    page(driver, "run")
    drawn = int(one(driver, "#tree.drawn").get_attribute("data-nodes"))
    assert drawn >= before
    evaluated = _number(text(driver, "#summary .evaluated"))
    browser.screenshot(driver, "serve-live-before")
    browser.wait_for(
        driver,
        lambda d: (
            int(one(d, "#tree.drawn").get_attribute("data-nodes")) > drawn
            and _number(text(d, "#summary .evaluated")) > evaluated
        ),
        "the live run's tree and count to grow",
        timeout=60,
    )
    assert int(one(driver, "#tree").get_attribute("data-nodes")) <= _count(root, "live")
    browser.screenshot(driver, "serve-live-after")
    assert root.live.poll() is None, "the live run still runs"


def test_report_from_a_file_walks_the_same_pages(driver, root, tmp_path):
    report = tmp_path / "report.html"
    live = _count(root, "live")
    result = _harness("report", str(root.path), "-o", str(report))
    assert result.returncode == 0, result.stderr
    driver.get(report.as_uri())
    check_runs_list(driver, root)
    browser.screenshot(driver, "report-runs")
    hrefs = driver.execute_script(
        "return Array.from(document.querySelectorAll('a[href]'))"
        ".filter(a => !a.closest('.modebar')).map(a => a.getAttribute('href'));"
    )
    assert hrefs and all(href.startswith("#") for href in hrefs), hrefs
    walk_the_llm_run(driver, root, "report")
    click(driver, shown(driver, "#crumbs a")[0], "runs")
    row = one(driver, '#runs tr.run-row[data-run="live"]')
    click(driver, row.find_element("css selector", "a.run-link"), "run")
    assert int(one(driver, "#tree.drawn").get_attribute("data-nodes")) >= live


def test_a_missing_browser_skips_unless_required(monkeypatch, tmp_path):
    monkeypatch.setattr(browser, "CHROMEDRIVER", tmp_path / "chromedriver")
    monkeypatch.delenv("HARNESS_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromedriver missing"):
        require_browser()
    monkeypatch.setenv("HARNESS_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="HARNESS_REQUIRE_BROWSER=1 but .*chromedriver"):
        require_browser()
