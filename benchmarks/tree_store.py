"""Run store size of a multi-file run: a 50-file seed against a one-file seed, one line of
one file edited a node (issue #24's acceptance: under 2x).

Both runs store the same nodes: node ``i``'s parent is drawn from the 200 nodes before it
(a seeded draw, so lineages run deep, the harder case for trees stored as differences),
and its program is the parent's with the ``ROUND`` line of one file set to ``i``
(``harness_bench.next_round``). The one-file seed is one of the tree's modules (about
1 KB), so the ratio measures what storing a tree costs beyond the edited file itself.

By default the nodes go through the store's own writes (``harness.db.commit``, three
commits a node as a round makes: pending, proposed, evaluated), with a SHA-256 of the text
standing in for the canonical hash: the loop's canonical hash of a 50-file tree takes tens
of milliseconds (every file parsed), so 10,000 nodes through the loop take minutes.
``--loop`` drives the real loop instead (``harness run +task=bench task.files=N
llm=instant``). Sizes are of a ``VACUUM INTO`` copy (the pages in use), in bytes.

    python benchmarks/tree_store.py [--nodes 10000] [--files 50] [--json PATH]
    python benchmarks/tree_store.py --quick          # 1,000 nodes
    python benchmarks/tree_store.py --loop --nodes 1000
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from bench_env import Check, add_json_option, use_bench_plugin, write_json

#: The acceptance: the 50-file run's store at most this many times the one-file run's.
MAX_RATIO = 2.0

#: A node's parent is drawn from this many nodes before it.
WINDOW = 200


def store_nodes(run_dir: Path, files: int, nodes: int, seed: int = 0) -> None:
    """``nodes`` nodes after the seed, written with :func:`harness.db.commit`."""
    from harness_bench import next_round, seed_of

    from harness import db as store
    from harness.nodes import Node

    db = store.open_db(run_dir)
    rng = random.Random(seed)
    programs = [seed_of(files)]
    for node_id in range(nodes + 1):
        parent = rng.randrange(max(0, node_id - WINDOW), node_id) if node_id else None
        node = Node(node_id, run_id=1, parent_ids=[] if parent is None else [parent])
        store.commit(db, node)
        program = programs[0] if parent is None else next_round(programs[parent], node_id)
        if node_id:
            programs.append(program)
        node.name, node.motivation, node.edit = f"instant-{node_id}", "benchmark", "full"
        node.program = program
        node.program_hash = hashlib.sha256(program.encode()).hexdigest()
        store.commit(db, node)
        node.status, node.success, node.score = "evaluated", True, float(len(program) % 97)
        node.metrics = {"score": node.score, "eval_seconds": 0.001}
        node.evaluated_at = node.created_at = store.now()
        store.commit(db, node)
    db.close()


def run_loop(run_dir: Path, files: int, nodes: int) -> None:
    """``nodes`` rounds of the real loop (``llm=instant``, one worker)."""
    from hydra import compose, initialize_config_module

    from harness.config import register_schemas
    from harness.loop import Run

    register_schemas()
    overrides = ["+task=bench", f"task.files={files}", "llm=instant", "analyzer=none",
                 f"run.max_evaluations={nodes + 1}", "run.workers=1"]  # fmt: skip
    with initialize_config_module(config_module="harness.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    asyncio.run(Run(cfg, run_dir).execute())


def vacuumed_size(run_dir: Path) -> int:
    """Bytes of the store compacted into a copy (``VACUUM INTO``)."""
    copy = run_dir / "vacuumed.db"
    conn = sqlite3.connect(run_dir / "harness.db")
    conn.execute("vacuum into ?", [str(copy)])
    conn.close()
    return copy.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="1,000 nodes")
    parser.add_argument("--loop", action="store_true", help="through the real loop (slower)")
    add_json_option(parser)
    args = parser.parse_args()
    nodes = 1000 if args.quick else args.nodes
    use_bench_plugin()
    write = run_loop if args.loop else store_nodes
    sizes, seconds = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, files in (("tree", args.files), ("one_file", 1)):
            start = time.perf_counter()
            write(Path(tmp, name), files, nodes)
            seconds[name] = time.perf_counter() - start
            sizes[name] = vacuumed_size(Path(tmp, name))
    ratio = sizes["tree"] / sizes["one_file"]
    how = "the real loop" if args.loop else "harness.db.commit"
    print(f"tree store benchmark: {nodes} nodes after the seed, written by {how}")
    for name, label in (("tree", f"{args.files}-file seed"), ("one_file", "one-file seed")):
        per_node = sizes[name] / (nodes + 1)
        print(f"  {label:>14}: {sizes[name]:>12,} bytes after VACUUM ({per_node:,.0f} a node),"
              f" written in {seconds[name]:.1f} s")  # fmt: skip
    print(f"  ratio: {ratio:.3f}")
    write_json(
        args.json,
        "tree_store",
        {
            "tree_bytes": sizes["tree"],
            "one_file_bytes": sizes["one_file"],
            "ratio": ratio,
            "tree_seconds": seconds["tree"],
            "one_file_seconds": seconds["one_file"],
        },  # fmt: skip
        {"nodes": nodes, "files": args.files, "loop": args.loop, "window": WINDOW},
        {"ratio": Check(ratio, MAX_RATIO)},
    )


if __name__ == "__main__":
    main()
