"""Score the four reference curators over several model seeds: the README's table.

raw (the identity seed), naive and heuristic run through the task's own cascade (the
sandboxed curation, then one training child per seed, paired with the raw corpus on the
same seed); the clean oracle, which needs the hidden labels and so cannot be a candidate,
is its corpus's ``clean.jsonl`` trained through the same trusted path. One fixed document
order; the seed varies only the initialisation. Mean and spread (sample standard deviation
over seeds) of each column.

    HF_HUB_OFFLINE=1 nice -n 5 .venv/bin/python \\
        plugins/tasks/data_curation/scripts/measure_curators.py --seeds 3 --json /tmp/dc.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from harness.config import compose_config
from harness.evaluation import evaluate_program
from harness.tasks import task_limits, task_spec
from omegaconf import OmegaConf

from harness_data_curation.curation import diagnostics, shape
from harness_data_curation.plugin import TASK, _docs, _gain, _identity_metrics, _labels

COLUMNS = ("score", "bpb", "dc_order_acc", "dc_cloze_acc")
#: Label diagnostics of the whole curation (they do not vary with the model seed).
LABELS = ("quality", "clean_recall", "redundant_kept", "junk_kept", "fraction_kept")


def per_seed(
    run: dict[str, Any], ref: dict[str, Any], weight: float, label_gain: float
) -> dict[str, float]:
    return {
        "score": label_gain + _gain(run, ref, weight),
        "bpb": run["bpb"],
        **{f"{task}_acc": v["acc"] for task, v in run["benchmarks"].items()},
    }


def oracle(cfg: dict[str, Any], limits: Any, seeds: list[int], workdir: Path) -> dict[str, Any]:
    """The clean documents trained through the task's trusted path."""
    context = TASK.context(cfg, limits)
    root = TASK.corpus(cfg)
    ref, mine = TASK.train_all(context, root, root / "clean.jsonl", seeds, workdir)
    if not isinstance(mine, list):
        raise SystemExit(f"oracle failed: {mine.feedback}")
    raw = {doc["id"]: doc["text"] for doc in _docs(root)}
    with (root / "clean.jsonl").open(encoding="utf-8") as handle:
        kept = {row["id"]: row["text"] for row in map(json.loads, handle)}
    full = diagnostics(kept, _labels(root))
    labels = {key: value for key, value in full.items() if key in LABELS}
    weight = float(cfg["score"]["accuracy_weight"])
    label_gain = cfg["score"]["label_weight"] * (
        full["quality"] - _identity_metrics(root)["quality"]
    )
    rows = [per_seed(m, r, weight, label_gain) for m, r in zip(mine, ref, strict=True)]
    return {"seeds": rows, **labels, "fraction_kept": shape(kept, raw)["fraction_kept"]}


def measure(seeds: list[int], cache_dir: str, overrides: list[str]) -> dict[str, Any]:
    composed = compose_config(
        ["+task=data_curation", f"task.seeds=[{','.join(map(str, seeds))}]",
         f"task.cache_dir={cache_dir}", *overrides]
    )  # fmt: skip
    cfg = OmegaConf.to_container(composed.task, resolve=True)
    limits = task_limits(cfg, task_spec(cfg))
    found: dict[str, Any] = {}
    for name in ("identity", "naive", "heuristic"):
        started = time.monotonic()
        result = evaluate_program(cfg, TASK.seed_source(name), limits)
        if not result.success:
            raise SystemExit(f"{name} failed: {result.feedback}")
        m = result.metrics
        tasks = [key[: -len("_acc_per_seed")] for key in m if key.endswith("_acc_per_seed")]
        rows = [
            {"score": result.samples[seed], "bpb": m["bpb_per_seed"][i],
             **{f"{task}_acc": m[f"{task}_acc_per_seed"][i] for task in tasks}}
            for i, seed in enumerate(seeds)
        ]  # fmt: skip
        found[name] = {
            "seeds": rows,
            **{key: m.get(key) for key in LABELS},
            "seconds": round(time.monotonic() - started, 1),
            "metrics": m,
        }
        print(f"{name}: score {result.score:+.4f} {found[name]['seconds']} s", flush=True)
    with_work = Path(cache_dir) / "oracle-work"
    found["oracle"] = oracle(cfg, limits, seeds, with_work)
    return found


def cell(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4f} ± {spread:.4f}"


def table(found: dict[str, Any]) -> str:
    """Mean ± sample standard deviation over seeds; the label columns do not vary by seed."""
    rows = ["| curator | score | bpb | dc_order acc | dc_cloze acc | label quality | clean "
            "articles kept | redundant copies kept | other junk kept | docs kept |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for name, one in found.items():
        columns = [cell([row[key] for row in one["seeds"]]) for key in COLUMNS]
        columns += [f"{one[key]:.3f}" for key in LABELS]
        rows.append(f"| {name} | {' | '.join(columns)} |")
    n = len(next(iter(found.values()))["seeds"])
    rows.append(f"\nn = {n} model seeds, one fixed document order; ± is the sample sd over seeds")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="model seeds 0..N-1")
    parser.add_argument("--cache-dir", default="/tmp/dc-measure")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--table", type=Path, help="print the table of a --json file, train nothing"
    )
    parser.add_argument("overrides", nargs="*", help="task overrides, e.g. task.train.steps=100")
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(args.table.read_text())))
        return
    started = time.monotonic()
    found = measure(list(range(args.seeds)), args.cache_dir, args.overrides)
    if args.json:
        args.json.write_text(json.dumps(found, indent=1, default=str))
    print(table(found))
    print(f"\nwall time {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
