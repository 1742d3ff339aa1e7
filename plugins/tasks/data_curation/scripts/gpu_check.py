"""GPU check for the data_curation GPU path: the whole cascade on CUDA at a reduced scale.

Run on a CUDA machine (no network needed: the synthetic corpus and the local lm-eval items):

    python plugins/tasks/data_curation/scripts/gpu_check.py [--steps 100]

It composes ``task/data_curation/scale=gpu`` (the 125 M-parameter Llama in fp32,
``device: cuda``) with the synthetic corpus instead of a hub corpus, ``--steps``
steps instead of 8,000 and the local benchmarks only, then evaluates the naive seed through
``harness.evaluation.evaluate_program``: the sandboxed curation, then the raw-corpus
reference and the naive corpus trained in sandboxed children that must see the GPU (the
sandbox binds the NVIDIA device nodes). Prints one JSON object; exits 1 when it fails.
``--dry-run`` composes the reduced scale and prints its settings: a check of the
configuration that needs no GPU.
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

from harness_data_curation.plugin import TASK


def reduced(steps: int, cache_dir: str) -> dict:
    composed = compose_config(
        ["+task=data_curation", "task/data_curation/scale=gpu", f"task.train.steps={steps}",
         "task.train.batch_size=32", "task.train.seq_len=512", "task.benchmarks.named=[]",
         "task.benchmarks.max_length=512", "task.corpus.vocab_size=4096", "task.seeds=[0,1]",
         "task.timeout_s=1800", f"task.cache_dir={cache_dir}"]
    )  # fmt: skip
    return OmegaConf.to_container(composed.task, resolve=True)  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--dry-run", action="store_true", help="print the settings, run nothing")
    args = parser.parse_args()
    cfg = reduced(args.steps, tempfile.mkdtemp(prefix="dc-gpu-"))
    if args.dry_run:
        print(json.dumps(TASK.settings(cfg), indent=1))
        return
    started = time.monotonic()
    result = evaluate_program(cfg, TASK.seed_source("naive"), task_limits(cfg, task_spec(cfg)))
    keys = ("bpb", "raw_bpb", "bpb_per_seed", "raw_bpb_per_seed", "dc_order_acc",
            "dc_cloze_acc", "loss_first", "loss_last", "train_seconds")  # fmt: skip
    print(json.dumps({
        "success": result.success, "score": result.score, "samples": result.samples,
        **{k: result.metrics.get(k) for k in keys},
        "seconds": round(time.monotonic() - started, 1),
        "feedback": result.feedback[-1500:],
    }, indent=1))  # fmt: skip
    sys.exit(0 if result.success else 1)


if __name__ == "__main__":
    main()
