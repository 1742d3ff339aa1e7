"""GPU check for the arch_linear_attn GPU path: fla's Triton kernels against the naive ops.

Run on a CUDA machine with the GPU extra installed
(``pip install -e 'plugins/tasks/arch_linear_attn[gpu]'``):

    python plugins/tasks/arch_linear_attn/scripts/gpu_check.py [--steps 20]

``--dry-run`` only composes the ``gpu`` scale (``task/arch_linear_attn/scale=gpu``) and
prints the driver's settings: a check of the configuration that needs no GPU.

1. the DeltaNet seed's op on CUDA (``fla.ops.delta_rule.chunk_delta_rule``) matches fla's
   naive chunkwise op run on the same CUDA tensors;
2. the whole seed layer gives the same output on CUDA (Triton) and on CPU (naive op) for
   the same weights;
3. forward+backward of the layer is timed at the GPU scale (hidden 256, 4 heads);
4. a few proxy-LM training steps at the ``gpu`` scale run through the task's driver.

Prints one JSON object; exits 1 when a comparison is off tolerance.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from typing import Any

import numpy as np
import torch
from harness.config import compose_config
from omegaconf import OmegaConf

from harness_arch_linear_attn import driver
from harness_arch_linear_attn.outputs import cross_entropy
from harness_arch_linear_attn.plugin import TASK

ATOL = 2e-3  # fp32 Triton kernels (tf32 matmuls) against the fp32 reference


def seed_namespace(name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"seed_{name}"}
    exec(compile(TASK.seed_source(name), name, "exec"), namespace)
    return namespace


def max_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float().cpu() - b.float().cpu()).abs().max())


def check_op(ns: dict[str, Any]) -> dict[str, float]:
    """The seed's ``delta_rule`` on CUDA (kernel) against the naive op on the same tensors."""
    torch.manual_seed(0)
    shape = (2, 512, 4, 64)
    q, k = (torch.nn.functional.normalize(torch.randn(shape, device="cuda"), dim=-1) for _ in "qk")
    v, beta = torch.randn(shape, device="cuda"), torch.rand(shape[:3], device="cuda")
    kernel = ns["delta_rule"](q, k, v, beta)
    naive = ns["load_naive"]("delta_rule")
    ref, _ = naive.delta_rule_chunkwise(*(t.transpose(1, 2) for t in (q, k, v, beta)), 64)
    return {"op_max_error": max_error(kernel, ref.transpose(1, 2))}


def check_layer(ns: dict[str, Any]) -> dict[str, float]:
    """The same layer weights on CPU (naive op) and CUDA (Triton), at T = 300 (padded)."""
    torch.manual_seed(0)
    cpu_layer = ns["TokenMixer"](256, 4)
    gpu_layer = copy.deepcopy(cpu_layer).cuda()
    x = torch.randn(2, 300, 256)
    with torch.no_grad():
        return {"layer_max_error": max_error(cpu_layer(x), gpu_layer(x.cuda()))}


def time_layer(ns: dict[str, Any], batch: int = 8, length: int = 2048) -> dict[str, float]:
    layer = ns["TokenMixer"](256, 4).cuda()
    x = torch.randn(batch, length, 256, device="cuda", requires_grad=True)
    for _ in range(3):  # Triton compiles and autotunes on the first calls
        layer(x).sum().backward()
    torch.cuda.synchronize()
    start, repeats = time.perf_counter(), 10
    for _ in range(repeats):
        layer(x).sum().backward()
    torch.cuda.synchronize()
    return {"layer_fwd_bwd_ms": (time.perf_counter() - start) / repeats * 1e3}


def gpu_config() -> dict[str, Any]:
    """The task config of the ``gpu`` scale, composed as ``harness run`` composes it."""
    composed = compose_config(["+task=arch_linear_attn", "task/arch_linear_attn/scale=gpu"])
    return OmegaConf.to_container(composed.task, resolve=True)


def proxy_steps(ns: dict[str, Any], steps: int) -> dict[str, float]:
    """A short training run of the ``gpu`` scale through the task's own driver."""
    cfg = gpu_config()
    settings = TASK.settings(cfg)
    settings["proxy"].update(steps=steps, warmup_steps=max(1, steps // 10), train_tokens=2_000_000)
    # The generated words: this checks the kernels and a training step, not the corpus
    # (which the evaluator, not the driver, reads and tokenises).
    settings["data"] = {**settings["data"], "source": "synthetic"}
    start = time.perf_counter()
    model = driver.train_once(ns, settings, seed=0)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    batches = driver.held_out_set(settings, int(cfg["eval_seed"]))
    with torch.no_grad():
        logits = torch.cat([model(x.cuda())[:, -1].float().cpu() for _, x, _ in batches])
    targets = np.concatenate([y.numpy() for _, _, y in batches])
    is_lm = np.concatenate([np.full(len(y), name.startswith("lm")) for name, _, y in batches])
    nll, correct = cross_entropy(logits.double().numpy(), targets)
    return {
        "proxy_train_seconds": seconds,
        "proxy_tokens_per_s": driver.train_tokens(settings) / seconds,
        "proxy_val_loss": float(nll[is_lm].mean()),
        "proxy_recall": float(correct[~is_lm].mean()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="proxy training steps")
    parser.add_argument("--dry-run", action="store_true", help="print the gpu settings, exit")
    args = parser.parse_args()
    if args.dry_run:
        print(json.dumps(TASK.settings(gpu_config()), indent=2))
        return 0
    if not torch.cuda.is_available():
        print(json.dumps({"ok": False, "error": "no CUDA device"}))
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False
    ns = seed_namespace("deltanet")
    report: dict[str, Any] = {"device": torch.cuda.get_device_name(), "torch": torch.__version__}
    report.update(check_op(ns))
    report.update(check_layer(ns))
    report.update(time_layer(ns))
    report.update(proxy_steps(ns, args.steps))
    report["ok"] = report["op_max_error"] < ATOL and report["layer_max_error"] < ATOL
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
