"""Measure models on the biomed benchmark: each program's full stage over several training
seeds, then a table of mean ± standard deviation per split (the README's tables).

    python plugins/tasks/biomed/scripts/measure_models.py                     # the three seeds
    python plugins/tasks/biomed/scripts/measure_models.py --models drugban --seeds 0,1 \\
        task.data.path=../shared/data/dti/human                              # a CSV folder

Extra arguments are task overrides (``task.KEY=VALUE``). Runs ``task.jobs`` training children
at a time, one per seed; prints one row per model and split, and the wall time of each model.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.config import compose_config
from harness.tasks import task_limits, task_spec
from omegaconf import OmegaConf

from harness_biomed.plugin import SEEDS, TASK, mean_sd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(SEEDS),
                        help="seed names or .py files, comma-separated")  # fmt: skip
    parser.add_argument("--seeds", default="0,1,2", help="training seeds, comma-separated")
    parser.add_argument("overrides", nargs="*", help="task overrides, task.KEY=VALUE")
    args = parser.parse_args()
    composed = compose_config(["+task=biomed", f"task.seeds=[{args.seeds}]", *args.overrides])
    cfg: dict[str, Any] = OmegaConf.to_container(composed.task, resolve=True)  # type: ignore[assignment]
    limits = task_limits(cfg, task_spec(cfg))
    print("| model | split | val AUROC | val AUPRC | test AUROC | test AUPRC | seconds |")
    print("|---|---|---|---|---|---|---|")
    for model in args.models.split(","):
        program = Path(model).read_text() if model.endswith(".py") else TASK.seed_source(model)
        workdir = Path(tempfile.mkdtemp(prefix=f"biomed-{Path(model).stem}-"))
        started = time.monotonic()
        result = TASK.evaluate(cfg, program, workdir, limits, "full")
        seconds = time.monotonic() - started
        if not result.success:
            print(f"| {model} | failed: {result.feedback[:300]} | | | | | |")
            continue
        m = result.metrics
        splits = sorted({k.rsplit("_val_auroc", 1)[0] for k in m if k.endswith("_val_auroc")})
        for split in splits:
            cells = [mean_sd(m[f"{split}_{part}_{metric}_per_seed"]).replace("±", " ± ")
                     for part in ("val", "test") for metric in ("auroc", "auprc")]  # fmt: skip
            print(f"| {Path(model).stem} | {split} | " + " | ".join(cells) + f" | {seconds:.0f} |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
