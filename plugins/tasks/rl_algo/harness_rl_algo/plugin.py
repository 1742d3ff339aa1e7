"""The ``rl_algo`` task: evolve how GRPO assigns advantages and computes its loss, on TRL.

Two cascade stages. ``contract`` calls the candidate's ``compute_advantages`` and
``policy_loss`` on fixed tensors (shapes, finiteness, gradients, padding) and measures the
behaviour descriptors; ``proxy`` runs GRPO with them from a shared base policy and scores the
trained weights against GRPO's under the same budget and seeds.

Isolation, the reason for the layout: the candidate's functions run only in a sandboxed
child, next to the trusted ``driver`` and ``policy`` sources (see
:class:`harness.driver_task.DriverTask`). That training child's one product is a safetensors
file per seed. The score comes from a second sandboxed child that runs only ``policy.py`` (no
candidate code), loads those files into the trusted architecture and measures accuracy on
held-out problems whose settings (seed, split) the training child is never given. A
candidate can change the weights, nothing else.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.driver_task import Context, DriverTask
from harness.hookspecs import hookimpl
from harness.sandbox import Limits, run_candidate
from harness.task import Descriptor, EvalResult, Noise, Stage, Task, finite

from harness_rl_algo import __version__
from harness_rl_algo.cognition import COGNITION
from harness_rl_algo.description import describe
from harness_rl_algo.lint import lint
from harness_rl_algo.outputs import (
    copy_untrusted,
    probes,
    reference_ok,
    reported_failure,
    train_runs,
)
from harness_rl_algo.schema import RlConf

SEEDS = ("grpo", "dr_grpo", "dapo")
REFERENCE = "grpo"
BASE_WEIGHTS = "base.safetensors"
#: The task keys the trusted children get (the math task's paths are added from data_dir).
DRIVER_KEYS = ("device", "threads", "seeds", "data_seed", "task", "policy", "warmup", "grpo",
               "eval")  # fmt: skip
DESCRIPTORS = (
    Descriptor(
        "clip_fraction", 0, 1, "tokens whose gradient vanishes far outside the trust "
        "region (PPO clipping: 1, none: 0)"
    ),
    Descriptor(
        "length_weighting", 0, 1.5, "per-token gradient of an 8-token completion over "
        "a 2-token one (per-sequence mean: 0.25, token-level: 1)"
    ),
    Descriptor("advantage_scale", 0, 2, "mean |advantage| on a fixed batch of binary rewards"),
)  # fmt: skip


def train_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """What the training child gets: everything but the held-out settings."""
    return {k: v for k, v in settings.items() if k != "eval"}


class RlAlgo(DriverTask):
    """Evolve GRPO's advantages and loss; score the trained policy against GRPO's."""

    name = "rl_algo"
    package = "harness_rl_algo"
    config_schema = RlConf
    seeds = SEEDS
    stages = (
        Stage("contract", description="shapes, finiteness, gradients, padding; descriptors"),
        Stage("proxy", description="GRPO training runs, held-out accuracy against GRPO"),
    )
    cognition = COGNITION
    version = __version__
    driver_keys = DRIVER_KEYS
    trusted = ("policy", "driver")
    versioned = ("torch", "transformers", "trl", "tokenizers", "safetensors")
    #: One sample per training seed: that seed's accuracy minus GRPO's on the same seed.
    noise = Noise()

    def settings(self, config: dict[str, Any]) -> dict[str, Any]:
        """The settings, ``eval`` included (see train_settings), the math task's paths set."""
        settings = super().settings(config)
        if settings["task"]["kind"] == "math":
            _math_paths(settings, config)
        return settings

    def describe(self, settings: dict[str, Any]) -> str:
        return describe(settings)

    def descriptors(self, settings: dict[str, Any]) -> tuple[Descriptor, ...]:
        return DESCRIPTORS

    def check(self, program: str) -> EvalResult | None:
        """Refuse a program whose imports or names reach beyond tensor code (lint.py)."""
        problem = lint(program)
        if problem is None:
            return None
        return EvalResult(success=False, feedback=problem, error_class="forbidden")

    # ----------------------------------------------------------------- sandboxed children

    def driver_stage(
        self, context: Context, program: str, stage: str, workdir: Path
    ) -> tuple[dict[str, Any] | EvalResult, str]:
        """A driver stage with the training settings, the driver's own verdict (``failure``)
        as a failed result."""
        settings = train_settings(context.settings)
        value, extra = self.run_driver(program, stage, settings, context.limits, workdir)
        if isinstance(value, dict) and value.get("failure") is not None:
            return reported_failure(value["failure"], stage), extra
        return value, extra

    def run_trusted(
        self, entry: str, args: tuple, limits: Limits, workdir: Path
    ) -> tuple[dict[str, Any] | None, str]:
        """Run a function of ``policy.py`` alone (no candidate code) in a sandboxed child."""
        source = self.trusted_source("policy")
        run = run_candidate(source, entry, args=args, limits=limits, workdir=workdir)
        if not run.ok or not isinstance(run.value, dict):
            return None, run.feedback()
        return run.value, ""

    # ----------------------------------------------------------------- stages

    def contract(self, context: Context, program: str, workdir: Path) -> EvalResult:
        """Stage 1: the driver calls both functions on fixed tensors, in the sandbox."""
        value, _ = self.driver_stage(context, program, "contract", workdir)
        if isinstance(value, EvalResult):
            return value
        found = probes(value)
        if found is None:
            return EvalResult(success=False, feedback=f"malformed contract report: {value!r:.300}",
                              error_class="invalid")  # fmt: skip
        feedback = (
            f"contract passed: mean |advantage| {found['advantage_scale']:.3f} (correlation "
            f"with reward {found['advantage_reward_corr']:+.2f}), clip fraction "
            f"{found['clip_fraction']:.2f}, length weighting {found['length_weighting']:.2f}"
        )
        return EvalResult(success=True, metrics={"score": 0.0, **found}, feedback=feedback)

    def proxy(self, context: Context, program: str, workdir: Path) -> EvalResult:
        """Stage 2: GRPO runs with the candidate's functions, scored against GRPO's own."""
        try:
            base = self.base_policy(context, workdir / "base")
            ref = self.reference(context, workdir / "reference", base)
        except RuntimeError as exc:
            return EvalResult(success=False, feedback=str(exc), error_class="baseline")
        if program == self.seed_source(REFERENCE):
            mine, extra = ref, "this is the GRPO reference itself (cached)"
        else:
            outcome = self.train_and_score(context, program, workdir, base)
            if isinstance(outcome, EvalResult):
                return outcome
            mine, extra = outcome, outcome.pop("feedback", "")
        seeds = [int(seed) for seed in context.settings["seeds"]]
        gains = [a - b for a, b in zip(mine["accuracies"], ref["accuracies"], strict=True)]
        runs = mine["runs"]
        metrics = {
            "score": math.fsum(gains) / len(gains),
            "accuracy": _avg(mine["accuracies"]),
            "grpo_accuracy": _avg(ref["accuracies"]),
            "base_accuracy": ref["base_accuracy"],
            "accuracy_per_seed": mine["accuracies"],
            "grpo_accuracy_per_seed": ref["accuracies"],
            "train_reward_first": _avg([r["reward_first"] for r in runs]),
            "train_reward_last": _avg([r["reward_last"] for r in runs]),
            "train_seconds": _avg([r["seconds"] for r in runs]),
            "max_grad_norm": max(r["max_grad_norm"] for r in runs),
            "seeds": len(gains),
            **mine["probes"],
        }
        feedback = (
            f"held-out accuracy {metrics['accuracy']:.3f} (GRPO {metrics['grpo_accuracy']:.3f}, "
            f"base policy {metrics['base_accuracy']:.3f}) over seeds {seeds}; per seed "
            f"{_fmt(mine['accuracies'])} against GRPO {_fmt(ref['accuracies'])}; training "
            f"reward {metrics['train_reward_first']:.3f} -> {metrics['train_reward_last']:.3f}; "
            f"score {metrics['score']:+.4f}"
        )
        metrics = {k: round(v, 6) if isinstance(v, float) else v for k, v in metrics.items()}
        return EvalResult(
            success=True,
            metrics=metrics,
            feedback="\n".join(filter(None, [feedback, extra])),
            samples=dict(zip(seeds, gains, strict=True)),
        )

    def train_and_score(
        self, context: Context, program: str, workdir: Path, base: Path | None
    ) -> dict[str, Any] | EvalResult:
        """Train with ``program`` in one sandboxed child, score the weights in another.

        Returns ``{"accuracies", "base_accuracy", "runs", "probes", "feedback"}`` or the
        failed result. ``base`` is the base policy's weights file (None: the pretrained model).
        Raises RuntimeError when the trusted scorer itself fails: no verdict on the candidate.
        """
        train_dir, score_dir = workdir / "train", workdir / "score"
        for path in (train_dir, score_dir):
            path.mkdir(parents=True, exist_ok=True)
        if base is not None:
            shutil.copyfile(base, train_dir / BASE_WEIGHTS)
            shutil.copyfile(base, score_dir / BASE_WEIGHTS)
        settings, limits = context.settings, context.limits
        value, extra = self.driver_stage(context, program, "train", train_dir)
        if isinstance(value, EvalResult):
            value.feedback = "\n".join(filter(None, [value.feedback, extra]))
            return value
        runs, found = train_runs(value, len(settings["seeds"])), probes(value)
        if runs is None or found is None:
            return EvalResult(success=False, feedback=f"malformed training report: {value!r:.300}",
                              error_class="invalid")  # fmt: skip
        names = []
        for seed in settings["seeds"]:
            name = f"policy-seed{seed}.safetensors"
            problem = copy_untrusted(train_dir / name, score_dir / name, limits.file_size_mb << 20)
            if problem is not None:
                return EvalResult(success=False, feedback=f"no usable weights: {problem}",
                                  error_class="invalid")  # fmt: skip
            names.append(name)
        base_name = BASE_WEIGHTS if base is not None else None
        scored, why = self.run_trusted("score_policies", (settings, [base_name, *names]), limits,
                                       score_dir)  # fmt: skip
        results = scored.get("results") if scored else None
        if not isinstance(results, list) or len(results) != len(names) + 1:
            raise RuntimeError(f"the trusted scorer failed:\n{why}")
        accuracies = [r.get("accuracy") for r in results]
        bad = [(n, r.get("error")) for n, r in zip(names, results[1:], strict=True)
               if r.get("accuracy") is None]  # fmt: skip
        if bad:
            return EvalResult(
                success=False,
                feedback=f"the trained weights do not load as the policy: {bad[0][0]}: {bad[0][1]}",
                error_class="invalid",
            )
        if any(finite(a) is None for a in accuracies):
            raise RuntimeError(f"the trusted scorer returned {results!r:.300}")
        return {
            "accuracies": accuracies[1:],
            "base_accuracy": accuracies[0],
            "runs": runs,
            "probes": found,
            "feedback": extra,
        }

    # ----------------------------------------------------------------- cached base and reference

    def base_policy(self, context: Context, workdir: Path) -> Path | None:
        """The proxy's base policy weights, trained once by ``policy.warm_up`` and cached on
        disk (None for the math task, whose base is the pretrained model)."""
        settings, limits = context.settings, context.limits
        if settings["task"]["kind"] == "math":
            return None
        parts = {k: settings[k] for k in ("task", "policy", "warmup", "threads")}
        key = self.cache_key(parts, self.trusted_source("policy"))

        def warm_up(path: Path) -> None:
            value, why = self.run_trusted("warm_up", (train_settings(settings),), limits, workdir)
            produced = workdir / "policy.safetensors"
            if value is None or not produced.is_file():
                raise RuntimeError(f"the base policy's warm-up failed:\n{why}")
            shutil.copyfile(produced, path)

        return self.cached(context.config, f"base-{key}.safetensors", warm_up)

    def reference(self, context: Context, workdir: Path, base: Path | None) -> dict[str, Any]:
        """GRPO's own outcome on each seed of ``settings`` (the score's zero), in the shape
        :meth:`train_and_score` returns, the per-seed lists in the order of the seeds.

        Each seed is trained once and cached on its own, so an evaluation with fresh seeds
        (the core's re-evaluation of a promising candidate) trains only those.
        """
        seeds = context.settings["seeds"]
        per_seed = [self.reference_seed(context, workdir / f"seed{s}", base, s) for s in seeds]
        return {
            "accuracies": [one["accuracies"][0] for one in per_seed],
            "base_accuracy": per_seed[0]["base_accuracy"],
            "runs": [one["runs"][0] for one in per_seed],
            "probes": per_seed[0]["probes"],
        }

    def reference_seed(
        self, context: Context, workdir: Path, base: Path | None, seed: int
    ) -> dict[str, Any]:
        """GRPO trained on one seed, cached as ``grpo-<key>.json``.

        The key hashes the settings (with that seed alone), the trusted sources, the GRPO
        seed program and the base policy (and the versions of the plugin, torch,
        transformers, trl...), so any change that could move the numbers trains it again.
        """
        one = dataclasses.replace(context, settings={**context.settings, "seeds": [int(seed)]})
        source = self.seed_source(REFERENCE)
        sources = [self.trusted_source(name) for name in self.trusted]
        key = self.cache_key(one.settings, *sources, source, base.name if base else None)

        def train() -> dict[str, Any]:
            outcome = self.train_and_score(one, source, workdir, base)
            if isinstance(outcome, EvalResult):
                raise RuntimeError(f"the GRPO reference failed to train:\n{outcome.feedback}")
            outcome.pop("feedback", None)
            return outcome

        return self.cached_json(
            context.config, f"grpo-{key}.json", train, lambda value: reference_ok(value, 1)
        )


def _math_paths(settings: dict[str, Any], config: dict[str, Any]) -> None:
    """Point the math task at the files ``scripts/prepare_gpu.py`` wrote under data_dir."""
    if not config.get("data_dir"):
        raise ValueError(
            "task.data_dir is not set: run plugins/tasks/rl_algo/scripts/prepare_gpu.py on a "
            "machine with network access and point task.data_dir at its output"
        )
    root = Path(config["data_dir"]).expanduser().resolve()
    settings["policy"] = {"path": str(root / "model")}
    settings["task"]["train_file"] = str(root / "train.jsonl")
    settings["eval"]["sets"] = {name: str(root / "eval" / f"{name}.jsonl")
                                for name in config["eval_sets"]}  # fmt: skip


def _avg(values: list[float]) -> float:
    return sum(values) / len(values)


def _fmt(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.3f}" for v in values) + "]"


TASK = RlAlgo()


@hookimpl
def harness_register_tasks(register: Callable[[Task], None]) -> None:
    register(TASK)
