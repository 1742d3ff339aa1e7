"""Measure how well the CPU proxy ranks RL algorithms: GRPO, Dr. GRPO, DAPO and a weakened GRPO.

Each program is evaluated by the task itself (``harness.evaluation.evaluate_program``, the
sandboxed cascade a run uses) on the same training seeds, so every comparison is paired:
the per-seed samples are accuracy(seed) - GRPO's accuracy(seed). It prints a Markdown table:
held-out accuracy and paired gain over GRPO, each mean +- 95% CI (Student t), the paired
t-test's p-value and the minimum detectable difference at this seed count (two-sided alpha
0.05, 80% power, the sd of that program's paired differences).

    HF_HUB_OFFLINE=1 nice -n 5 .venv/bin/python plugins/tasks/rl_algo/scripts/measure_proxy.py \
        --seeds 10 --cache-dir /tmp/rl-measure --json /tmp/rl-measure.json
    .venv/bin/python plugins/tasks/rl_algo/scripts/measure_proxy.py --table /tmp/rl-measure.json

It needs scipy (the plugin does not). One evaluation at a time, one torch thread each.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

from harness.config import compose_config
from harness.evaluation import evaluate_program
from harness.tasks import task_limits, task_spec
from omegaconf import OmegaConf
from scipy import optimize, stats

from harness_rl_algo.plugin import TASK

GRPO_ADVANTAGE = "    return ((grouped - mean) / (std + STD_EPS)).view(-1)\n"
#: The weakened variant: a deliberate sign bug on every fourth group of completions, so the
#: net learning signal is about half GRPO's and noisier (it still learns).
WEAKENED_ADVANTAGE = (
    "    sign = torch.ones_like(mean)\n"
    "    sign[3::4] = -1.0  # the bug: every fourth group's advantages are sign-flipped\n"
    "    return (sign * (grouped - mean) / (std + STD_EPS)).view(-1)\n"
)


def weakened_grpo() -> str:
    """The GRPO seed with the sign bug above."""
    source = TASK.seed_source("grpo")
    assert GRPO_ADVANTAGE in source
    return source.replace(GRPO_ADVANTAGE, WEAKENED_ADVANTAGE)


def programs() -> dict[str, str]:
    return {
        "grpo": TASK.seed_source("grpo"),
        "dr_grpo": TASK.seed_source("dr_grpo"),
        "dapo": TASK.seed_source("dapo"),
        "weakened (sign bug, 1 group in 4)": weakened_grpo(),
    }


def mean_ci(values: list[float], level: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its two-sided Student-t interval."""
    n = len(values)
    sd = statistics.stdev(values) if n > 1 else math.nan
    return statistics.fmean(values), stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)


def min_detectable(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The true mean paired difference a two-sided paired t-test at ``alpha`` detects with
    ``power`` over ``n`` seeds, given the sd of the differences (noncentral t)."""
    df, crit = n - 1, stats.t.ppf(1 - alpha / 2, n - 1)

    def shortfall(effect: float) -> float:
        nc = effect * math.sqrt(n) / sd
        detected = stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc)
        return (1.0 if math.isnan(detected) else detected) - power  # NaN: a tail of ~1

    # The power is near 1 once the noncentrality is crit + 6: the search stops there.
    return optimize.brentq(shortfall, 1e-9 * sd, (crit + 6) * sd / math.sqrt(n))


def evaluate_all(seeds: list[int], cache_dir: str, overrides: list[str]) -> dict[str, Any]:
    composed = compose_config(
        ["+task=rl_algo", f"task.seeds=[{','.join(map(str, seeds))}]",
         f"task.cache_dir={cache_dir}", *overrides]
    )  # fmt: skip
    cfg = OmegaConf.to_container(composed.task, resolve=True)
    limits = task_limits(cfg, task_spec(cfg))
    found: dict[str, Any] = {}
    for name, source in programs().items():
        started = time.monotonic()
        result = evaluate_program(cfg, source, limits)
        if not result.success:
            raise SystemExit(f"{name} failed: {result.feedback}")
        found[name] = {
            "accuracy": result.metrics["accuracy_per_seed"],
            "grpo_accuracy": result.metrics["grpo_accuracy_per_seed"],
            "base_accuracy": result.metrics["base_accuracy"],
            "samples": {str(k): v for k, v in result.samples.items()},
            "score": result.score,
            "seconds": round(time.monotonic() - started, 1),
        }
        print(f"{name}: {found[name]}", flush=True)
    return found


def table(found: dict[str, Any]) -> str:
    rows = [
        "| program | held-out accuracy | gain over GRPO (paired) | p (paired t) | MDE (80%) | "
        "wins / seeds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, one in found.items():
        acc, ref = one["accuracy"], one["grpo_accuracy"]
        gains = [a - g for a, g in zip(acc, ref, strict=True)]
        accuracy, acc_ci = mean_ci(acc)
        if name == "grpo":
            rows.append(f"| {name} | {accuracy:.3f} ± {acc_ci:.3f} | (reference) | | | |")
            continue
        gain, gain_ci = mean_ci(gains)
        p = stats.ttest_rel(acc, ref).pvalue
        mde = min_detectable(statistics.stdev(gains), len(gains))
        wins = sum(g > 0 for g in gains)
        rows.append(
            f"| {name} | {accuracy:.3f} ± {acc_ci:.3f} | {gain:+.3f} ± {gain_ci:.3f} | "
            f"{p:.2g} | {mde:.3f} | {wins} / {len(gains)} |"
        )
    base = next(iter(found.values()))["base_accuracy"]
    rows.append(f"\nbase policy (before GRPO): {base:.3f}; n = {len(acc)} seeds")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="training seeds 0..N-1")
    parser.add_argument("--cache-dir", default="/tmp/rl-measure")
    parser.add_argument("--json", type=Path, help="also write the raw per-seed results here")
    parser.add_argument(
        "--table", type=Path, help="print the table of a --json file, train nothing"
    )
    parser.add_argument("overrides", nargs="*", help="task overrides, e.g. task.grpo.steps=50")
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(args.table.read_text())))
        return
    started = time.monotonic()
    found = evaluate_all(list(range(args.seeds)), args.cache_dir, args.overrides)
    if args.json:
        args.json.write_text(json.dumps(found, indent=1))
    print(table(found))
    print(f"\nwall time {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
