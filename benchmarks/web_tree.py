"""Web view: how long the run page of a large run takes to draw its tree, and the report.

Generates a run store of 5,000 nodes (the real schema, through harness.db: a random
evolution tree over 4 islands, ~10% failed, ~5% duplicates, rising scores, a researcher and
an analyzer exchange per node), serves it with ``harness serve`` and loads the run page in
headless Chromium (Debian's chromium and chromedriver) ``--loads`` times, printing the time
from navigationStart to ``window.harnessTreeDrawn``; then times ``harness report`` on the
same store and prints the file's size. Figures only: nothing is asserted about time.

    python benchmarks/web_tree.py [--nodes 5000] [--loads 3] [--seed 0] [--keep]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import browser  # noqa: E402  (tests/browser.py: the browser and `harness serve` plumbing)
from bench_env import add_json_option, write_json  # noqa: E402

from harness.nodes import Node  # noqa: E402

ISLANDS = 4
FAILED = 0.10
DUPLICATES = 0.05
CONSTANTS = 40


def program(constants: list[float]) -> str:
    """A circle-packing-like candidate whose constants are what evolution changes."""
    lines = ["# EVOLVE-BLOCK-START", "import numpy as np", "", "", "def construct_packing():"]
    lines.append("    centers = np.zeros((26, 2))")
    for i, value in enumerate(constants):
        lines.append(f"    centers[{i % 26}, {i % 2}] = {value:.6f}  # ring {i // 8}")
    lines += [
        "    radii = np.full(26, 0.05)",
        "    return centers, radii",
        "# EVOLVE-BLOCK-END",
        "",
    ]
    return "\n".join(lines)


def exchanges(node_id: int, parent: str, child: str, stamp: str) -> list[dict[str, Any]]:
    """A researcher and an analyzer call of the size a real run stores."""
    calls = []
    for role, prompt, answer in (
        ("researcher", f"Improve this program:\n{parent}", f"<code>{child}</code>"),
        ("analyzer", f"Explain this result:\n{child}", "<analysis>Ring 2 moved out.</analysis>"),
    ):
        messages = [
            {"role": "system", "content": f"You are the {role} of an evolutionary search."},
            {"role": "user", "content": prompt},
        ]
        tokens_in, tokens_out = len(json.dumps(messages)) // 4, len(answer) // 4
        calls.append(
            {
                "node_id": node_id,
                "role": role,
                "model": "bench-model",
                "request": json.dumps(messages),
                "response": answer,
                "tokens_in": tokens_in,
                "tokens_out": tokens_out,
                "latency_s": 2.0,
                "cost_usd": (3 * tokens_in + 15 * tokens_out) / 1e6,
                "attempts": 1,
                "retryable": 0,
                "created_at": stamp,
            }
        )
    return calls


def _child(rng: random.Random, node_id: int, parent: Node, values: list[float]) -> Node:
    """Node ``node_id`` from ``parent``: evaluated, failed (~10%) or a duplicate (~5%)."""
    recent = [i for i in range(max(0, node_id - 50), node_id) if i != parent.id]
    node = Node(
        id=node_id,
        run_id=parent.run_id,
        parent_ids=[parent.id, *rng.sample(recent, min(2, len(recent)))],
        island=node_id % ISLANDS,
        name=f"ring-tweak-{node_id}",
        motivation="Move one ring of circles outwards.",
        analysis="The change moved one ring; the score moved with it.",
        evaluations=1,
        eval_seconds=1.5,
    )
    roll = rng.random()
    if roll < DUPLICATES:
        node.set_program(parent.program or "", "python")
        node.status, node.duplicate_of = "duplicate", parent.id
        node.success, node.score, node.metrics = parent.success, parent.score, parent.metrics
    elif roll < DUPLICATES + FAILED:
        node.set_program(program(values), "python")
        node.status, node.error_class = "failed", "runtime"
        node.feedback = "Traceback (most recent call last):\nValueError: overlapping circles"
    else:
        node.set_program(program(values), "python")
        node.status, node.success = "evaluated", True
        node.score = (parent.score or 0.0) + rng.gauss(0.002, 0.01)
        node.metrics = {"sum_radii": node.score}
        node.feedback = f"valid packing, sum of radii {node.score:.6f}"
    return node


def make_store(run_dir: Path, nodes: int, seed: int) -> None:
    """A finished run of ``nodes`` nodes in ``run_dir`` (its harness.db only), written
    through harness.db as a run writes it (lineage rows included)."""
    from harness import db as store
    from harness.config import compose_config
    from harness.rundir import session_fields

    rng = random.Random(seed)
    overrides = ["+task=circle_packing", f"run.max_evaluations={nodes}"]
    run_dir.mkdir(parents=True, exist_ok=True)
    db = store.open_db(run_dir)
    run_id = store.start_session(
        db, "circle_packing", session_fields(compose_config(overrides), overrides, seed)
    )
    start = datetime.now(timezone.utc) - timedelta(seconds=2 * nodes)
    constants = [[rng.random() for _ in range(CONSTANTS)]]
    seed_node = Node(id=0, run_id=run_id, island=0, name="seed", status="evaluated")
    seed_node.set_program(program(constants[0]), "python")
    seed_node.success, seed_node.score, seed_node.evaluations = True, 1.0, 1
    made = [seed_node]
    alive: list[list[int]] = [[0] for _ in range(ISLANDS)]  # evaluated nodes per island
    calls: list[dict[str, Any]] = []
    for node_id in range(1, nodes):
        pool = alive[node_id % ISLANDS]
        parent = max(rng.sample(pool, min(3, len(pool))), key=lambda i: made[i].score or 0.0)
        values = list(constants[parent])
        for _ in range(rng.randint(1, 3)):
            values[rng.randrange(CONSTANTS)] = rng.random()
        constants.append(values)
        node = _child(rng, node_id, made[parent], values)
        made.append(node)
        if node.status == "evaluated":
            pool.append(node_id)
    with db.conn:  # one transaction around all the commits: seconds, not minutes
        for node in made:
            created = start + timedelta(seconds=2 * node.id)
            node.created_at = created.isoformat(timespec="milliseconds")
            node.evaluated_at = (created + timedelta(seconds=1.5)).isoformat(
                timespec="milliseconds"
            )
            store.commit(db, node)
            if node.id:
                parent_program = made[node.parent_ids[0]].program or ""
                calls += exchanges(node.id, parent_program, node.program or "", node.created_at)
        db["llm_calls"].insert_all(calls, batch_size=500)
    db["runs"].update(run_id, {"started_at": made[0].created_at})
    store.finish_session(db, run_id, "finished", f"max_evaluations={nodes} reached")
    db.close()


def tree_times(root: Path, loads: int, count: int) -> list[float]:
    """Milliseconds from navigationStart to window.harnessTreeDrawn, per fresh load."""
    times = []
    profile = Path(tempfile.mkdtemp(prefix="harness-web-bench-profile-"))
    driver = browser.chromium(profile)
    try:
        with browser.Served(root) as served:
            for _ in range(loads):
                driver.get("about:blank")
                driver.get(served.page("run/run/"))
                drawn = browser.wait_for(
                    driver,
                    lambda d: d.execute_script(
                        "return window.harnessTreeDrawn === undefined ? null :"
                        " window.harnessTreeDrawn + performance.timeOrigin"
                        " - performance.timing.navigationStart;"
                    ),
                    "the tree",
                    timeout=600,
                )
                times.append(float(drawn))
                nodes = driver.find_element("css selector", "#tree").get_attribute("data-nodes")
                if int(nodes) != count:
                    raise RuntimeError(f"the tree drew {nodes} nodes of {count}")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the generated store")
    add_json_option(parser)
    args = parser.parse_args()
    if browser.missing():
        sys.exit(f"web_tree benchmark: {browser.missing()}")

    root = Path(tempfile.mkdtemp(prefix="harness-web-bench-"))
    try:
        started = time.perf_counter()
        make_store(root / "run", args.nodes, args.seed)
        size = (root / "run" / "harness.db").stat().st_size
        print(
            f"web_tree benchmark: {args.nodes} nodes, store {size / 1e6:.1f} MB "
            f"(generated in {time.perf_counter() - started:.1f} s)"
        )
        times = tree_times(root, args.loads, args.nodes)
        print(
            f"run page, navigationStart -> harnessTreeDrawn over {len(times)} loads: "
            f"min {min(times):.0f} ms, median {statistics.median(times):.0f} ms, "
            f"max {max(times):.0f} ms"
        )
        report = root / "report.html"
        started = time.perf_counter()
        subprocess.run(
            [str(browser.HARNESS), "report", str(root / "run"), "-o", str(report)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        report_s = time.perf_counter() - started
        print(f"harness report: {report_s:.1f} s, {report.stat().st_size / 1e6:.1f} MB")
        figures = {
            "tree_drawn_ms_median": statistics.median(times),
            "report_s": report_s,
            "report_mb": report.stat().st_size / 1e6,
        }
        params = {"nodes": args.nodes, "loads": args.loads, "seed": args.seed}
        write_json(args.json, "web_tree", figures, params)
    finally:
        if args.keep:
            print(f"store kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
