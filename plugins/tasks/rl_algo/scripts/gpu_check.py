"""GPU check for the rl_algo GPU path: a few GRPO steps on CUDA with the candidate hooks.

Run on a CUDA machine after ``scripts/prepare_gpu.py`` (which needs network access):

    python plugins/tasks/rl_algo/scripts/gpu_check.py --data-dir /data/rl_algo [--steps 5]

1. the GRPO seed passes the contract probes;
2. whether a candidate in harness's sandbox can see the GPU (the sandbox binds the NVIDIA
   device nodes into its private /dev, under bubblewrap or the namespace launcher);
3. ``--steps`` GRPO steps of the GRPO seed at a reduced ``gpu`` scale (bf16, the prepared
   base model and math data) through the task's trainer, in this process;
4. greedy accuracy of the base and the trained weights on ``--problems`` problems of each
   prepared competition set, through the trusted scorer.

Prints one JSON object; exits 1 when training or scoring fails. ``--dry-run`` only composes
the reduced ``gpu`` scale (``task/rl_algo/scale=gpu``) and prints its settings: a check of the
configuration that needs no GPU and no prepared data.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from harness.config import compose_config
from harness.sandbox import Limits, run_candidate
from omegaconf import OmegaConf

from harness_rl_algo import driver, policy
from harness_rl_algo.plugin import TASK, train_settings

SANDBOX_PROBE = "import torch\n\n\ndef probe():\n    return torch.cuda.is_available()\n"


def check_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The ``gpu`` scale's settings, reduced to a few steps and problems, one seed."""
    overrides = [
        "+task=rl_algo", "task/rl_algo/scale=gpu", f"task.data_dir={args.data_dir}",
        "task.seeds=[0]", f"task.grpo.steps={args.steps}", "task.grpo.prompts_per_step=4",
        "task.grpo.group_size=4", f"task.grpo.max_completion_length={args.max_tokens}",
        f"task.eval.max_problems={args.problems}", f"task.eval.max_new_tokens={args.max_tokens}",
        "task.eval.batch_size=16",
    ]  # fmt: skip
    config = OmegaConf.to_container(compose_config(overrides).task, resolve=True)
    return TASK.settings(config)


def sandbox_sees_cuda() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as work:
        limits = Limits(timeout_s=300, memory_mb=268435456)
        run = run_candidate(SANDBOX_PROBE, "probe", limits=limits, workdir=Path(work))
    return {"sandboxed": run.sandboxed, "cuda_visible": run.value if run.ok else run.feedback()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--problems", type=int, default=8, help="per competition set")
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--dry-run", action="store_true", help="print the settings, exit")
    args = parser.parse_args()
    if args.dry_run:
        print(json.dumps(check_settings(args), indent=2))
        return 0
    if not torch.cuda.is_available():
        print(json.dumps({"error": "no CUDA device"}))
        return 1
    cfg = check_settings(args)
    seed = {"__name__": "grpo_seed"}
    exec(compile(TASK.seed_source("grpo"), "grpo.py", "exec"), seed)
    report: dict[str, Any] = {"device": torch.cuda.get_device_name(), "model": cfg["policy"]}
    report["contract"] = driver.contract(seed)
    report["sandbox"] = sandbox_sees_cuda()
    with tempfile.TemporaryDirectory() as work:
        os.chdir(work)
        started = time.perf_counter()
        try:
            report["train"] = driver.train_once(seed, train_settings(cfg), 0)
        except driver.CandidateFault as exc:
            report["train"] = {"error_class": exc.error_class, "message": str(exc)}
            print(json.dumps(report, indent=2))
            return 1
        report["train_wall_s"] = time.perf_counter() - started
        report["peak_gpu_gb"] = torch.cuda.max_memory_allocated() / 2**30
        torch.cuda.empty_cache()
        started = time.perf_counter()
        scored = policy.score_policies(cfg, [None, "policy-seed0.safetensors"])
        report["score"] = {"base": scored["results"][0], "trained": scored["results"][1],
                           "problems": scored["problems"],
                           "seconds": time.perf_counter() - started}  # fmt: skip
    print(json.dumps(report, indent=2, default=str))
    return 0 if all(r.get("accuracy") is not None for r in scored["results"]) else 1


if __name__ == "__main__":
    sys.exit(main())
