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

Prints one JSON object; exits 1 when training or scoring fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

import torch
import yaml
from harness.sandbox import Limits, run_candidate

from harness_rl_algo import driver, plugin, policy

SANDBOX_PROBE = "import torch\n\n\ndef probe():\n    return torch.cuda.is_available()\n"


def check_settings(args: argparse.Namespace) -> dict[str, Any]:
    conf = files("harness_rl_algo") / "conf" / "task" / "rl_algo.yaml"
    config = yaml.safe_load(conf.read_text(encoding="utf-8"))
    config.update(scale="gpu", seeds=[0])
    gpu = config["scales"]["gpu"]
    gpu["data_dir"] = str(args.data_dir)
    gpu["grpo"].update(steps=args.steps, prompts_per_step=4, group_size=4,
                       max_completion_length=args.max_tokens)  # fmt: skip
    gpu["eval"].update(max_problems=args.problems, max_new_tokens=args.max_tokens, batch_size=16)
    return plugin.settings(config)


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
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"error": "no CUDA device"}))
        return 1
    cfg = check_settings(args)
    seed = {"__name__": "grpo_seed"}
    exec(compile(plugin.seed_source("grpo"), "grpo.py", "exec"), seed)
    report: dict[str, Any] = {"device": torch.cuda.get_device_name(), "model": cfg["policy"]}
    report["contract"] = driver.contract(seed)
    report["sandbox"] = sandbox_sees_cuda()
    with tempfile.TemporaryDirectory() as work:
        os.chdir(work)
        started = time.perf_counter()
        try:
            report["train"] = driver.train_once(seed, plugin.train_settings(cfg), 0)
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
