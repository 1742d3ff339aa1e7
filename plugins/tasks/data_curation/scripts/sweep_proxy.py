"""Seed spread of the proxy on one corpus file under a few training settings.

Trains ``proxy.run`` (the trusted trainer, in-process, no benchmarks) on a corpus folder's
``clean.jsonl`` or ``raw.jsonl`` once per seed and setting, two at a time, one thread each,
and prints bits per byte: the README's "Choosing the proxy" figures.

    cd plugins/tasks/data_curation && HF_HUB_OFFLINE=1 ../../../.venv/bin/python \\
        scripts/sweep_proxy.py ~/.cache/harness-data-curation/corpus-<key> clean.jsonl \\
        '{"d96x800": {"steps": 800, "lr": 4e-3, "model": {"layers": 2, "hidden": 96,
          "heads": 4, "mlp": 256}}}' --seeds 0,1,2,3
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

#: The cpu scale of the first design (3 layers, d = 192, 200 steps); a setting overrides it.
BASE: dict[str, Any] = {
    "device": "cpu",
    "threads": 1,
    "model": {"layers": 3, "hidden": 192, "heads": 6, "mlp": 512},
    "train": {
        "steps": 200,
        "batch_size": 16,
        "seq_len": 128,
        "lr": 3e-3,
        "warmup_fraction": 0.05,
        "weight_decay": 0.1,
        "beta1": 0.9,
        "beta2": 0.95,
        "grad_clip": 1.0,
        "order_seed": 0,
    },  # fmt: skip
    "benchmarks": {"local": [], "named": [], "batch_size": 64, "max_length": 256, "limit": None},
}


def one(root: Path, corpus: str, change: dict[str, Any], seed: int) -> float:
    from harness_data_curation import proxy

    settings = copy.deepcopy(BASE)
    change = dict(change)
    settings["model"].update(change.pop("model", {}))
    settings["train"].update(change)
    with tempfile.TemporaryDirectory() as work:
        for name in ("tokenizer.json", "heldout.jsonl"):
            shutil.copyfile(root / name, Path(work) / name)
        shutil.copyfile(root / corpus, Path(work) / "corpus.jsonl")
        os.chdir(work)
        return proxy.run(settings, seed)["bpb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="a corpus folder of the task's cache")
    parser.add_argument("corpus", choices=["clean.jsonl", "raw.jsonl"])
    parser.add_argument("settings", help='JSON {"name": {train keys..., "model": {...}}}')
    parser.add_argument("--seeds", default="0,1,2,3")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    settings = json.loads(args.settings)
    with ProcessPoolExecutor(2) as pool:
        futures = {(name, seed): pool.submit(one, args.root.resolve(), args.corpus, change, seed)
                   for name, change in settings.items() for seed in seeds}  # fmt: skip
        for name in settings:
            values = [futures[name, seed].result() for seed in seeds]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            print(f"{name} {args.corpus}: bpb per seed {[round(v, 4) for v in values]}, mean "
                  f"{statistics.fmean(values):.4f}, sd {spread:.4f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
