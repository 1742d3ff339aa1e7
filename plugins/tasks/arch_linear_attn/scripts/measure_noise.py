"""Seed noise of the CPU proxy: DeltaNet and a deliberately weakened DeltaNet, paired.

Evaluates both programs through the plugin (sanity, proxy, the sandbox, the per-seed
DeltaNet baselines) on the same training seeds, with the task's default config, and prints
mean +/- 95% CI (Student t) per program and paired t-tests (scipy) of the weakened layer
against DeltaNet. The weakened layer is the DeltaNet seed with ``conv_size=1``: no short
causal convolution, the part that lets a key and its value meet in one token.

    python plugins/tasks/arch_linear_attn/scripts/measure_noise.py --seeds 0,1,2,3,4 \
        --cache /tmp/arch-noise-cache --out noise.json
    python plugins/tasks/arch_linear_attn/scripts/measure_noise.py --from-json noise.json
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

WEAKENED = "no_short_conv"


def evaluate(seeds: list[int], cache: str) -> dict[str, dict[str, Any]]:
    """Both programs' per-seed samples, losses, recalls and evaluation times."""
    from harness.config import compose_config
    from harness.evaluation import evaluate_program
    from harness.tasks import task_limits, task_spec
    from omegaconf import OmegaConf

    from harness_arch_linear_attn import plugin

    composed = compose_config(["+task=arch_linear_attn"]).task
    cfg = OmegaConf.to_container(composed, resolve=True)
    assert isinstance(cfg, dict)
    cfg.update(cache_dir=cache, seeds=seeds)
    limits = task_limits(cfg, task_spec(cfg))
    deltanet = plugin.TASK.seed_source("deltanet")
    weakened = deltanet.replace("conv_size=4", "conv_size=1")
    assert weakened != deltanet, "the seed's conv_size default moved"
    rows = {}
    for name, program in (("deltanet", deltanet), (WEAKENED, weakened)):
        result = evaluate_program(cfg, program, limits)
        if not result.success:
            raise SystemExit(f"{name} failed: {result.feedback}")
        rows[name] = {
            "samples": {str(seed): value for seed, value in result.samples.items()},
            "val_loss": result.metrics["val_loss_per_seed"],
            "recall": result.metrics["recall_per_seed"],
            "eval_seconds": result.metrics["eval_seconds"],
        }
    return rows


def interval(values: list[float]) -> str:
    """Mean +/- the half-width of the 95% Student-t interval."""
    from scipy import stats

    n = len(values)
    mean = math.fsum(values) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    return f"{mean:.3f} ± {stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n):.3f}"


def report(rows: dict[str, dict[str, Any]]) -> None:
    from scipy import stats

    print("| program | score (paired) | val_loss (nats/byte) | recall |")
    print("| --- | ---: | ---: | ---: |")
    for name, row in rows.items():
        score = list(row["samples"].values())
        print(f"| {name} | {interval(score)} | {interval(row['val_loss'])} | "
              f"{interval(row['recall'])} |")  # fmt: skip
    base, weak = rows["deltanet"], rows[WEAKENED]
    for key in ("samples", "val_loss", "recall"):
        a = list(base[key].values()) if key == "samples" else base[key]
        b = list(weak[key].values()) if key == "samples" else weak[key]
        test = stats.ttest_rel(b, a)
        diff = [y - x for x, y in zip(a, b, strict=True)]
        print(f"paired {key}: {WEAKENED} - deltanet = {interval(diff)}, "
              f"t = {test.statistic:.2f}, p = {test.pvalue:.4f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--cache", default="/tmp/arch-noise-cache")
    parser.add_argument("--out", default=None, help="write the per-seed numbers as JSON")
    parser.add_argument("--from-json", default=None, help="report a saved measurement")
    args = parser.parse_args()
    if args.from_json:
        with open(args.from_json) as saved:
            rows = json.load(saved)
    else:
        seeds = [int(s) for s in args.seeds.split(",")]
        if len(set(seeds)) < 2:
            parser.error("--seeds needs at least two distinct seeds for a spread and a test")
        rows = evaluate(seeds, args.cache)
    if args.out:
        with open(args.out, "w") as out:
            json.dump(rows, out, indent=1)
    report(rows)


if __name__ == "__main__":
    main()
