"""The ``rl_algo`` task: evolve how GRPO assigns advantages and computes its loss, on TRL.

Two cascade stages. ``contract`` calls the candidate's ``compute_advantages`` and
``policy_loss`` on fixed tensors (shapes, finiteness, gradients, padding) and measures the
behaviour descriptors; ``proxy`` runs GRPO with them from a shared base policy and scores the
trained weights against GRPO's under the same budget and seeds.

Isolation, the reason for the layout: the candidate's functions run only in a sandboxed
child, next to the trusted ``driver`` and ``policy`` sources (see :func:`compose`). That
training child's one product is a safetensors file per seed. The score comes from a second
sandboxed child that runs only ``policy.py`` (no candidate code), loads those files into the
trusted architecture and measures accuracy on held-out problems whose settings (seed, split)
the training child is never given. A candidate can change the weights, nothing else.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import math
import os
import shutil
import stat
import textwrap
import time
from collections.abc import Callable
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path
from typing import Any

from filelock import FileLock
from harness.hookspecs import hookimpl
from harness.sandbox import Limits, run_candidate
from harness.task import Descriptor, EvalResult, Stage, TaskSpec

from harness_rl_algo import __version__
from harness_rl_algo.cognition import COGNITION

TASK = "rl_algo"
ENTRY = "_harness_rl_algo_eval"
SEEDS = ("grpo", "dr_grpo", "dapo")
REFERENCE = "grpo"
BASE_WEIGHTS = "base.safetensors"
_STDOUT_TAIL = 800
_FAILURES = frozenset({"contract", "nan", "exploding_gradients"})
_VERSIONED = ("torch", "transformers", "trl", "tokenizers", "safetensors")

#: What a candidate may import, and names it may not touch: its functions are pure tensor
#: code, so nothing may reach files, the interpreter's frames or the trainer around them.
ALLOWED_IMPORTS = frozenset({"math", "torch", "torch.nn", "torch.nn.functional", "typing",
                             "__future__"})  # fmt: skip
FORBIDDEN_NAMES = frozenset({"eval", "exec", "compile", "open", "__import__", "globals",
                             "locals", "vars", "getattr", "setattr", "delattr", "breakpoint",
                             "input", "exit", "quit"})  # fmt: skip
FORBIDDEN_ATTRIBUTES = frozenset({"gi_frame", "cr_frame", "ag_frame", "tb_frame", "f_back",
                                  "f_globals", "f_locals", "f_builtins", "load", "save", "hub",
                                  "ops", "library", "utils", "classes", "distributed",
                                  "multiprocessing"})  # fmt: skip

#: Appended to the candidate: loads the trusted sources as the modules ``harness_rl_algo.policy``
#: and ``harness_rl_algo.driver`` (the package may be hidden in the sandbox), then hands the
#: driver the candidate's globals.
_STUB = f"""

def {ENTRY}(sources, stage, settings):
    import sys
    import types

    package = types.ModuleType("harness_rl_algo")
    package.__path__ = []
    sys.modules["harness_rl_algo"] = package
    for name in ("policy", "driver"):
        module = types.ModuleType("harness_rl_algo." + name)
        sys.modules[module.__name__] = module
        setattr(package, name, module)
        exec(compile(sources[name], "harness_rl_algo/" + name + ".py", "exec"), module.__dict__)
    return package.driver.evaluate(stage, settings, globals())
"""


# ----------------------------------------------------------------- configuration


def settings(config: dict[str, Any]) -> dict[str, Any]:
    """The settings of the configured scale, all plain JSON values (``eval`` included)."""
    scale = config.get("scale", "cpu")
    scales = config.get("scales") or {}
    if scale not in scales:
        raise ValueError(f"task.scale must be one of {sorted(scales)}, got {scale!r}")
    cfg = json.loads(json.dumps(scales[scale]))
    if cfg["task"]["kind"] == "math":
        cfg = _math_paths(cfg, scale)
    return {
        **cfg,
        "scale": scale,
        "device": cfg.get("device") or ("cuda" if scale == "gpu" else "cpu"),
        "threads": int(config.get("threads", 1)),
        "seeds": [int(s) for s in config.get("seeds") or [0]],
    }


def _math_paths(cfg: dict[str, Any], scale: str) -> dict[str, Any]:
    """Point the math task at the files ``scripts/prepare_gpu.py`` wrote under data_dir."""
    if not cfg.get("data_dir"):
        raise ValueError(
            f"task.scales.{scale}.data_dir is not set: run plugins/tasks/rl_algo/scripts/"
            "prepare_gpu.py on a machine with network access and point data_dir at its output"
        )
    root = Path(cfg["data_dir"]).expanduser().resolve()
    cfg["policy"] = {"path": str(root / "model")}
    cfg["task"]["train_file"] = str(root / "train.jsonl")
    cfg["eval"]["sets"] = {name: str(root / "eval" / f"{name}.jsonl") for name in cfg["eval_sets"]}
    return cfg


def train_settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """What the training child gets: everything but the held-out settings."""
    return {k: v for k, v in cfg.items() if k not in ("eval", "eval_sets")}


def describe(cfg: dict[str, Any]) -> str:
    """The researcher's task text."""
    grpo, task = cfg["grpo"], cfg["task"]
    if task["kind"] == "addition":
        what = (
            f"a tiny Llama policy ({cfg['policy']['num_layers']} layers, hidden "
            f"{cfg['policy']['hidden_size']}) answering `a+b=` for a, b in "
            f"[{task['min_operand']}, {task['max_operand']}], warmed up by supervised steps "
            "to partial accuracy; reward 1 for the exact sum, else 0"
        )
    else:
        what = "a pretrained base model on competition maths; reward 1 for a correct \\boxed{}"
    proxy = (
        f"Stage 2, proxy: GRPO from the same base policy with your functions: {what}. Each "
        f"run samples {grpo['group_size']} completions for each of {grpo['prompts_per_step']} "
        f"prompts per optimiser step, for {grpo['steps']} steps ({grpo['steps_per_generation']} "
        "steps per batch of samples, so the ratio exp(logps - old_logps) moves off 1), lr "
        f"{grpo['lr']}, gradients clipped at norm {grpo['max_grad_norm']}; NaN/inf values or "
        f"gradient norms above {float(grpo['max_grad_norm_abort']):g} fail the run. The "
        "trained policy is scored by greedy accuracy on held-out problems, averaged over "
        f"{len(cfg['seeds'])} seeds. score = accuracy - accuracy of GRPO itself under the "
        "same budget and seeds: 0 is GRPO, higher is better."
    )
    return f"""\
Improve GRPO, the group-relative policy-gradient algorithm used to train reasoning LLMs with
verifiable rewards: change how advantages are assigned to the sampled completions and how the
policy loss turns them into gradients (variance reduction, normalisation, clipping, token
weighting, asymmetric treatment of good and bad samples...).

The program must define two functions, called by a trusted trainer built on TRL's
GRPOTrainer:
  compute_advantages(rewards, group_size, mask, **kwargs) -> advantages
    rewards: float tensor [B], B = prompts x group_size, the group_size completions of each
    prompt contiguous; mask: float tensor [B, T], 1 on completion tokens. Return a finite
    float tensor [B] (one per completion) or [B, T] (one per token).
  policy_loss(logps, old_logps, advantages, mask, **kwargs) -> scalar tensor to minimise
    logps [B, T] (requires grad) and old_logps [B, T]: log-probabilities of the sampled
    tokens under the current and the sampling policy; advantages as you returned them (rows
    shuffled together with everything else); mask [B, T]; kwargs has max_completion_length.
    The loss must be finite, depend on logps and not on padding positions (mask == 0).
Only `torch` and `math` may be imported; no file, frame or interpreter access.

Stage 1, contract: both functions on fixed tensors (shapes, finiteness, gradient, padding).
{textwrap.fill(proxy, 90)}"""


# ----------------------------------------------------------------- hooks


@hookimpl
def harness_register_tasks(register: Callable[[str], None]) -> None:
    register(TASK)


@hookimpl
def harness_task_spec(config: dict[str, Any]) -> TaskSpec:
    cfg = settings(config)
    return TaskSpec(
        name=TASK,
        description=describe(cfg),
        entry=ENTRY,
        seeds=SEEDS,
        cognition=COGNITION,
        descriptors=(
            Descriptor(
                "clip_fraction", 0, 1, "tokens whose gradient vanishes far outside the trust "
                "region (PPO clipping: 1, none: 0)"
            ),
            Descriptor(
                "length_weighting", 0, 1.5, "per-token gradient of an 8-token completion over "
                "a 2-token one (per-sequence mean: 0.25, token-level: 1)"
            ),
            Descriptor(
                "advantage_scale", 0, 2, "mean |advantage| on a fixed batch of binary rewards"
            ),
        ),  # fmt: skip
        stages=(
            Stage("contract", description="shapes, finiteness, gradients, padding; descriptors"),
            Stage("proxy", description="GRPO training runs, held-out accuracy against GRPO"),
        ),
        timeout_s=float(config.get("timeout_s", 600)),
        memory_mb=int(config.get("memory_mb", 8192)),
        version=__version__,
    )


@hookimpl
def harness_seed_program(config: dict[str, Any], name: str) -> str | None:
    return seed_source(name) if name in SEEDS else None


@hookimpl
def harness_evaluate(
    config: dict[str, Any], program: str, workdir: Path, limits: Limits, stage: str | None
) -> EvalResult:
    started = time.monotonic()
    cfg = settings(config)
    problem = lint(program)
    if problem is not None:
        result = EvalResult(success=False, feedback=problem, error_class="forbidden")
    elif stage == "proxy":
        result = _proxy(config, cfg, program, workdir, _limits(cfg, limits))
    else:
        result = _contract(cfg, program, workdir, _limits(cfg, limits))
    result.metrics["eval_seconds"] = round(time.monotonic() - started, 2)
    return result


# ----------------------------------------------------------------- sources and the sandbox


def seed_source(name: str) -> str:
    return (files("harness_rl_algo") / "seeds" / f"{name}.py").read_text(encoding="utf-8")


def trusted_source(name: str) -> str:
    # Read, not imported: importing it would import torch into every harness process that
    # loads plugins (the CLI, evaluation workers), which costs seconds each.
    return (files("harness_rl_algo") / f"{name}.py").read_text(encoding="utf-8")


def compose(program: str) -> str:
    """The candidate, unchanged (its line numbers stay right), then the entry stub."""
    return program.rstrip("\n") + "\n" + _STUB


def lint(program: str) -> str | None:
    """Why the program may not run (an import or name outside the contract), or None.

    A syntax error is left to the sandbox, which reports it with its line.
    """
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        found = None
        if isinstance(node, ast.Import):
            found = next((f"import {a.name}" for a in node.names
                          if a.name not in ALLOWED_IMPORTS), None)  # fmt: skip
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level or module not in ALLOWED_IMPORTS:
                found = f"from {'.' * node.level}{module} import ..."
            else:
                found = next((f"from {module} import {a.name}" for a in node.names
                              if a.name.startswith("_") or a.name in FORBIDDEN_ATTRIBUTES),
                             None)  # fmt: skip
        elif isinstance(node, ast.Name) and (
            node.id in FORBIDDEN_NAMES or node.id.startswith("__")
        ):
            found = f"the name {node.id!r}"
        elif isinstance(node, ast.Attribute) and (
            node.attr.startswith("_") or node.attr in FORBIDDEN_ATTRIBUTES
        ):
            found = f"the attribute .{node.attr}"
        if found is not None:
            return (
                f"line {getattr(node, 'lineno', '?')}: {found} is not allowed. A candidate may "
                f"import only {', '.join(sorted(ALLOWED_IMPORTS - {'__future__', 'typing'}))} "
                "and must stay pure tensor code: no files, no private or dunder attributes, "
                "no frames, no eval/exec/getattr"
            )
    return None


def _limits(cfg: dict[str, Any], limits: Limits) -> Limits:
    """The run's limits, with the scale's own ``timeout_s``, ``memory_mb`` and
    ``file_size_mb`` where it sets them (GPU training needs hours, a CUDA process reserves
    far more address space than it uses, and the weights of a real model are gigabytes)."""
    changes = {key: type(getattr(limits, key))(cfg[key])
               for key in ("timeout_s", "memory_mb", "file_size_mb") if cfg.get(key)}  # fmt: skip
    return dataclasses.replace(limits, **changes)


def run_driver(
    program: str, stage: str, cfg: dict[str, Any], limits: Limits, workdir: Path
) -> tuple[dict[str, Any] | EvalResult, str]:
    """Run a driver stage next to ``program`` in the sandbox: (its dict, or the failed result
    when the child died or returned garbage; the stdout tail)."""
    sources = {name: trusted_source(name) for name in ("policy", "driver")}
    run = run_candidate(
        compose(program), ENTRY, args=(sources, stage, cfg), limits=limits, workdir=workdir
    )
    tail = run.stdout.strip()[-_STDOUT_TAIL:]
    extra = f"stdout (tail):\n{tail}" if tail else ""
    if not run.ok:
        feedback = f"{stage} failed: {run.feedback()}"
        return EvalResult(success=False, feedback=feedback, error_class=run.error_class), extra
    if not isinstance(run.value, dict):
        feedback = f"the {stage} stage returned {type(run.value).__name__}, not a dict"
        return EvalResult(success=False, feedback=feedback, error_class="invalid"), extra
    failure = run.value.get("failure")
    if failure is not None:
        return _reported_failure(failure, stage), extra
    return run.value, extra


def run_trusted(
    entry: str, args: tuple, limits: Limits, workdir: Path
) -> tuple[dict[str, Any] | None, str]:
    """Run a function of ``policy.py`` alone (no candidate code) in a sandboxed child."""
    run = run_candidate(
        trusted_source("policy"), entry, args=args, limits=limits, workdir=workdir
    )
    if not run.ok or not isinstance(run.value, dict):
        return None, run.feedback()
    return run.value, ""


def _reported_failure(failure: Any, stage: str) -> EvalResult:
    """The driver's own verdict (a contract breach, NaN, exploding gradients) as a result."""
    if not isinstance(failure, dict):
        return EvalResult(success=False, feedback=f"malformed {stage} report: {failure!r:.300}",
                          error_class="invalid")  # fmt: skip
    error_class = failure.get("error_class")
    error_class = error_class if error_class in _FAILURES else "invalid"
    seed = failure.get("seed")
    seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else None
    where = f" (training seed {seed})" if seed is not None else ""
    message = f"{stage} failed [{error_class}]{where}: {str(failure.get('message'))[:2000]}"
    return EvalResult(
        success=False,
        metrics={} if seed is None else {"failed_seed": seed},
        feedback=message,
        error_class=error_class,
    )


# ----------------------------------------------------------------- stages


def _contract(cfg: dict[str, Any], program: str, workdir: Path, limits: Limits) -> EvalResult:
    value, _ = run_driver(program, "contract", train_settings(cfg), limits, workdir)
    if isinstance(value, EvalResult):
        return value
    probes = _probes(value)
    if probes is None:
        return EvalResult(success=False, feedback=f"malformed contract report: {value!r:.300}",
                          error_class="invalid")  # fmt: skip
    feedback = (
        f"contract passed: mean |advantage| {probes['advantage_scale']:.3f} (correlation with "
        f"reward {probes['advantage_reward_corr']:+.2f}), clip fraction "
        f"{probes['clip_fraction']:.2f}, length weighting {probes['length_weighting']:.2f}"
    )
    return EvalResult(success=True, metrics={"score": 0.0, **probes}, feedback=feedback)


def _proxy(
    config: dict[str, Any], cfg: dict[str, Any], program: str, workdir: Path, limits: Limits
) -> EvalResult:
    try:
        base = base_policy(config, cfg, limits, workdir / "base")
        ref = reference(config, cfg, limits, workdir / "reference", base)
    except RuntimeError as exc:
        return EvalResult(success=False, feedback=str(exc), error_class="baseline")
    if program == seed_source(REFERENCE):
        mine, extra = ref, "this is the GRPO reference itself (cached)"
    else:
        outcome = train_and_score(program, cfg, limits, workdir, base)
        if isinstance(outcome, EvalResult):
            return outcome
        mine, extra = outcome, outcome.pop("feedback", "")
    gains = [a - b for a, b in zip(mine["accuracies"], ref["accuracies"], strict=True)]
    runs = mine["runs"]
    metrics = {
        "score": sum(gains) / len(gains),
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
        f"base policy {metrics['base_accuracy']:.3f}) over {len(gains)} seeds; per seed "
        f"{_fmt(mine['accuracies'])} against GRPO {_fmt(ref['accuracies'])}; training reward "
        f"{metrics['train_reward_first']:.3f} -> {metrics['train_reward_last']:.3f}; "
        f"score {metrics['score']:+.4f}"
    )
    metrics = {k: round(v, 6) if isinstance(v, float) else v for k, v in metrics.items()}
    return EvalResult(
        success=True, metrics=metrics, feedback="\n".join(filter(None, [feedback, extra]))
    )


def train_and_score(
    program: str, cfg: dict[str, Any], limits: Limits, workdir: Path, base: Path | None
) -> dict[str, Any] | EvalResult:
    """Train with ``program`` in one sandboxed child, score the weights in another.

    Returns ``{"accuracies", "base_accuracy", "runs", "probes", "feedback"}`` or the failed
    result. ``base`` is the base policy's weights file (None: the pretrained model). Raises
    RuntimeError when the trusted scorer itself fails: that is no verdict on the candidate.
    """
    train_dir, score_dir = workdir / "train", workdir / "score"
    for path in (train_dir, score_dir):
        path.mkdir(parents=True, exist_ok=True)
    if base is not None:
        shutil.copyfile(base, train_dir / BASE_WEIGHTS)
        shutil.copyfile(base, score_dir / BASE_WEIGHTS)
    value, extra = run_driver(program, "train", train_settings(cfg), limits, train_dir)
    if isinstance(value, EvalResult):
        value.feedback = "\n".join(filter(None, [value.feedback, extra]))
        return value
    runs, probes = _train_runs(value, len(cfg["seeds"])), _probes(value)
    if runs is None or probes is None:
        return EvalResult(success=False, feedback=f"malformed training report: {value!r:.300}",
                          error_class="invalid")  # fmt: skip
    names = []
    for seed in cfg["seeds"]:
        name = f"policy-seed{seed}.safetensors"
        problem = copy_untrusted(train_dir / name, score_dir / name, limits.file_size_mb << 20)
        if problem is not None:
            return EvalResult(success=False, feedback=f"no usable weights: {problem}",
                              error_class="invalid")  # fmt: skip
        names.append(name)
    base_name = BASE_WEIGHTS if base is not None else None
    scored, why = run_trusted("score_policies", (cfg, [base_name, *names]), limits, score_dir)
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
    if any(_number(a) is None for a in accuracies):
        raise RuntimeError(f"the trusted scorer returned {results!r:.300}")
    return {
        "accuracies": accuracies[1:],
        "base_accuracy": accuracies[0],
        "runs": runs,
        "probes": probes,
        "feedback": extra,
    }


def copy_untrusted(src: Path, dst: Path, max_bytes: int) -> str | None:
    """Copy a file a candidate's run wrote; None, or why it was refused (a link, not a
    regular file, too large, absent)."""
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        return f"{src.name}: {exc.strerror}"
    with os.fdopen(fd, "rb") as source:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return f"{src.name} is not a regular file"
        if info.st_size > max_bytes:
            return f"{src.name} has {info.st_size} bytes (limit {max_bytes})"
        with open(dst, "xb") as target:
            shutil.copyfileobj(source, target)
    return None


# ----------------------------------------------------------------- cached base and reference


def base_policy(
    config: dict[str, Any], cfg: dict[str, Any], limits: Limits, workdir: Path
) -> Path | None:
    """The proxy's base policy weights, trained once by ``policy.warm_up`` and cached on disk
    (None for the math task, whose base is the pretrained model)."""
    if cfg["task"]["kind"] != "addition":
        return None
    parts = {k: cfg[k] for k in ("task", "policy", "warmup", "threads")}
    key = cache_key(parts, trusted_source("policy"))
    path = cache_dir(config) / f"base-{key}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_suffix(".lock")):
        if path.exists():
            return path
        value, why = run_trusted("warm_up", (train_settings(cfg),), limits, workdir)
        produced = workdir / "policy.safetensors"
        if value is None or not produced.is_file():
            raise RuntimeError(f"the base policy's warm-up failed:\n{why}")
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(produced, tmp)
        tmp.replace(path)
        return path


def reference(
    config: dict[str, Any], cfg: dict[str, Any], limits: Limits, workdir: Path, base: Path | None
) -> dict[str, Any]:
    """GRPO's own outcome under ``cfg`` (the score's zero), trained once and cached on disk.

    The key hashes the settings, the plugin version, the trusted sources, the seed and the
    versions of torch/transformers/trl..., so any change that could move the numbers trains
    it again. A file lock makes concurrent workers wait for one training.
    """
    source = seed_source(REFERENCE)
    key = cache_key(cfg, trusted_source("policy"), trusted_source("driver"), source,
                    base.name if base else None)  # fmt: skip
    path = cache_dir(config) / f"grpo-{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_suffix(".lock")):
        if path.exists():
            cached = json.loads(path.read_text())
            if _reference_ok(cached, len(cfg["seeds"])):
                return cached
        outcome = train_and_score(source, cfg, limits, workdir, base)
        if isinstance(outcome, EvalResult):
            raise RuntimeError(f"the GRPO reference failed to train:\n{outcome.feedback}")
        outcome.pop("feedback", None)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(outcome))
        tmp.replace(path)
        return outcome


def cache_key(*parts: Any) -> str:
    versions = {name: version(name) for name in _VERSIONED}
    data = json.dumps([parts, __version__, versions], sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:24]


def cache_dir(config: dict[str, Any]) -> Path:
    raw = config.get("cache_dir")
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "harness-rl-algo"


# ----------------------------------------------------------------- validation of reports

_PROBES = ("advantage_scale", "advantage_reward_corr", "clip_fraction", "length_weighting")
_RUN_KEYS = ("seconds", "reward_first", "reward_last", "max_grad_norm")


def _probes(value: dict[str, Any]) -> dict[str, float] | None:
    probes = value.get("probes")
    if not isinstance(probes, dict):
        return None
    numbers = {k: _number(probes.get(k)) for k in _PROBES}
    return None if any(v is None for v in numbers.values()) else numbers  # type: ignore[return-value]


def _train_runs(value: dict[str, Any], seeds: int) -> list[dict[str, float]] | None:
    """The per-seed training reports (untrusted: feedback only) if well formed."""
    runs = value.get("runs")
    if not isinstance(runs, list) or len(runs) != seeds:
        return None
    clean = []
    for run in runs:
        numbers = {k: _number(run.get(k)) if isinstance(run, dict) else None for k in _RUN_KEYS}
        if any(v is None for v in numbers.values()):
            return None
        clean.append(numbers)
    return clean  # type: ignore[return-value]


def _reference_ok(value: Any, seeds: int) -> bool:
    if not isinstance(value, dict) or _probes(value) is None:
        return False
    accuracies = value.get("accuracies")
    return (
        isinstance(accuracies, list)
        and len(accuracies) == seeds
        and all(_number(a) is not None for a in [*accuracies, value.get("base_accuracy")])
        and _train_runs(value, seeds) is not None
    )


def _avg(values: list[float]) -> float:
    return sum(values) / len(values)


def _fmt(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.3f}" for v in values) + "]"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
