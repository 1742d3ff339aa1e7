"""The ``arch_linear_attn`` task: evolve a causal token-mixing layer against DeltaNet.

Two cascade stages. ``sanity`` builds the layer and checks shape, parameter budget, finite
outputs and gradients, causality and sub-quadratic cost; ``proxy`` trains a tiny language
model around it (synthetic text + MQAR recall) and scores it against DeltaNet trained with
the same budget, data and seeds. Both run the candidate only in the sandbox, together with
the trusted ``driver`` module (see :func:`compose`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import shutil
import time
import types
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock
from harness.hookspecs import hookimpl
from harness.sandbox import Limits, run_candidate
from harness.task import Descriptor, EvalResult, Stage, TaskSpec

from harness_arch_linear_attn import __version__, corpus
from harness_arch_linear_attn.cognition import COGNITION
from harness_arch_linear_attn.corpus import Corpus

TASK = "arch_linear_attn"
ENTRY = "_harness_arch_linear_attn_eval"
SEEDS = ("deltanet", "linear_attn", "gated_deltanet")
BASELINE = "deltanet"
_STDOUT_TAIL = 800

#: Appended to the candidate: runs the driver's source in a fresh module namespace, so no
#: name of the candidate is shadowed, and hands it the candidate's globals.
_STUB = f"""

def {ENTRY}(driver_source, stage, settings):
    import types

    module = types.ModuleType("harness_arch_linear_attn_driver")
    exec(compile(driver_source, "harness_arch_linear_attn_driver.py", "exec"), module.__dict__)
    return module.evaluate(stage, settings, globals())
"""


def settings(config: dict[str, Any]) -> dict[str, Any]:
    """The driver's settings for the configured scale, all plain JSON values."""
    scale = config.get("scale", "cpu")
    scales = config.get("scales") or {}
    if scale not in scales:
        raise ValueError(f"task.scale must be one of {sorted(scales)}, got {scale!r}")
    seeds = config.get("seeds") or [0]
    return {
        **scales[scale],
        "scale": scale,
        "device": "cuda" if scale == "gpu" else "cpu",
        "threads": int(config.get("threads", 1)),
        "seeds": [int(s) for s in seeds],
        "mixer_options": dict(config.get("mixer_options") or {}),
        "sanity": dict(config["sanity"]),
        "data": dict(config.get("data") or {"source": "synthetic"}),
    }


def describe(cfg: dict[str, Any]) -> str:
    """The researcher's task text."""
    proxy, data = cfg["proxy"], cfg["data"]
    text = (
        "synthetic text (words of letters; a letter is predictable only from the word so far)"
        if data.get("source", "synthetic") == "synthetic"
        else f"text from the dataset {data.get('path')} ({data.get('tokenizer')} tokens)"
    )
    return f"""\
Design a causal, sub-quadratic token-mixing layer (linear attention, state-space model,
delta rule, gating...) that beats DeltaNet in a small language model.

The program must define `class TokenMixer(torch.nn.Module)` with the constructor
`TokenMixer(hidden_size, num_heads, **options)` and `forward(x) -> y`, both
`[batch, seq_len, hidden_size]` float32 tensors, for any seq_len (not only multiples of a
chunk size). It must be causal: output t may depend on inputs 0..t only. Allowed imports:
torch, einops and fla-core's pure-torch reference ops (`fla/ops/*/naive.py`, loaded
standalone as the seed's `load_naive` does: Triton is not available on CPU).

Stage 1, sanity (hidden {cfg["hidden_size"]}, {cfg["num_heads"]} heads): the layer is built,
has at most {cfg["max_mixer_params"]} parameters, keeps the shape, gives finite outputs and
gradients, is causal (outputs before position p must not change when inputs from p on
change) and sub-quadratic (forward FLOPs and time from T to 4T, T =
{cfg["sanity"]["cost_seq_len"]}). A failure stops the evaluation with the reason.

Stage 2, proxy: {proxy["num_layers"]} blocks of [RMSNorm, TokenMixer, RMSNorm, MLP] with a tied
embedding, trained for {proxy["steps"]} AdamW steps on {text} plus multi-query associative recall
(MQAR: `k1 v1 .. kn vn`, then queries `k -> v`). Metrics, measured by the evaluator on
held-out text and MQAR prompts whose answers are never in the input: validation loss and
perplexity, recall accuracy, training tokens/s. DeltaNet is trained with the same budget, data and
seeds. score = (DeltaNet val loss - val loss) + recall_weight * (recall - DeltaNet recall):
0 is DeltaNet, higher is better. The CPU budget is small, so a layer that learns fast
counts; keep the layer cheap on CPU (python loops over time steps are very slow)."""


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
            Descriptor("mixer_params", 0, cfg["max_mixer_params"], "parameters of one layer"),
            Descriptor(
                "flops_per_token",
                0,
                64 * cfg["hidden_size"] ** 2,
                "forward FLOPs per token at 4 x cost_seq_len (DeltaNet: about 16 hidden^2)",
            ),
            Descriptor("uses_gating", 0, 1, "whether the evolved code applies a sigmoid gate"),
        ),
        stages=(
            Stage("sanity", description="build, budget, shape, finite, causal, sub-quadratic"),
            Stage("proxy", description="tiny LM + MQAR, scored against DeltaNet"),
        ),
        timeout_s=float(config.get("timeout_s", 600)),
        memory_mb=int(config.get("memory_mb", 6144)),
        version=__version__,
    )


@hookimpl
def harness_seed_program(config: dict[str, Any], name: str) -> str | None:
    return seed_source(name) if name in SEEDS else None


def seed_source(name: str) -> str:
    return (files("harness_arch_linear_attn") / "seeds" / f"{name}.py").read_text(encoding="utf-8")


def compose(program: str) -> str:
    """The candidate, unchanged (its line numbers stay right), then the entry stub."""
    return program.rstrip("\n") + "\n" + _STUB


def driver_source() -> str:
    # Read, not imported: importing it would import torch into every harness process that
    # loads plugins (the CLI, evaluation workers), which costs seconds each.
    return (files("harness_arch_linear_attn") / "driver.py").read_text(encoding="utf-8")


def run_stage(
    program: str, stage: str, cfg: dict[str, Any], limits: Limits, workdir: Path
) -> tuple[dict[str, Any] | None, str]:
    """Run one driver stage on ``program`` in the sandbox: (returned dict or None, feedback)."""
    run = run_candidate(
        compose(program),
        ENTRY,
        args=(driver_source(), stage, cfg),
        limits=limits,
        workdir=workdir,
    )
    if not run.ok:
        return None, run.feedback()
    if not isinstance(run.value, dict):
        return None, f"the {stage} stage returned {type(run.value).__name__}, not a dict"
    tail = run.stdout.strip()[-_STDOUT_TAIL:]
    return run.value, f"stdout (tail):\n{tail}" if tail else ""


@hookimpl
def harness_evaluate(
    config: dict[str, Any], program: str, workdir: Path, limits: Limits, stage: str | None
) -> EvalResult:
    started = time.monotonic()
    cfg = settings(config)
    # A scale may set its own limits: GPU training runs longer, and CUDA maps far more
    # address space (what memory_mb caps) than it uses.
    scaled = {k: type(getattr(limits, k))(cfg[k]) for k in ("timeout_s", "memory_mb") if k in cfg}
    limits = dataclasses.replace(limits, **scaled)
    if stage == "proxy":
        try:
            text = real_text(config, cfg)
        except Exception as exc:  # noqa: BLE001 - a download or tokenizer problem of the setup
            return EvalResult(success=False, feedback=f"task.data: {exc}", error_class="config")
        result = _proxy(config, cfg, program, workdir, limits, text)
    else:
        result = _sanity(cfg, program, workdir, limits)
    result.metrics["eval_seconds"] = round(time.monotonic() - started, 2)
    return result


def _sanity(cfg: dict[str, Any], program: str, workdir: Path, limits: Limits) -> EvalResult:
    value, extra = run_stage(program, "sanity", cfg, limits, workdir)
    if value is None:
        return EvalResult(success=False, feedback=extra, error_class="exception")
    if not value.get("passed"):
        check = str(value.get("check", "?"))
        message = f"sanity check '{check}' failed: {value.get('message', '')}"
        return EvalResult(
            success=False,
            metrics={"failed_check": check},
            feedback="\n".join(filter(None, [message, extra])),
            error_class="causality" if check == "causality" else "sanity",
        )
    metrics = {
        key: _number(value.get(key))
        for key in ("mixer_params", "flops_per_token", "flop_exponent", "time_exponent")
    }
    if any(v is None for v in metrics.values()):
        return EvalResult(
            success=False, feedback=f"malformed sanity report: {value!r}", error_class="invalid"
        )
    metrics.update(score=0.0, uses_gating=uses_gating(program))
    feedback = (
        f"sanity passed: {metrics['mixer_params']:.0f} parameters, forward FLOPs grow as "
        f"T^{metrics['flop_exponent']:.2f}, time as T^{metrics['time_exponent']:.2f}"
    )
    return EvalResult(success=True, metrics=metrics, feedback=feedback)


def real_text(config: dict[str, Any], cfg: dict[str, Any]) -> Corpus | None:
    """The ``datasets`` corpus when ``task.data.source`` asks for one (its vocabulary then
    replaces ``proxy.lm_vocab`` in ``cfg``), else None for the generated text."""
    source = cfg["data"].get("source", "synthetic")
    if source == "synthetic":
        if (config.get("zero_shot") or {}).get("tasks"):
            raise ValueError("zero_shot.tasks needs real text: set task.data.source=datasets")
        return None
    if source != "datasets":
        raise ValueError(f"source must be synthetic or datasets, got {source!r}")
    found = corpus.prepare(cfg["data"], cache_dir(config))
    cfg["proxy"] = {**cfg["proxy"], "lm_vocab": found.vocab}
    return found


def _proxy(
    config: dict[str, Any],
    cfg: dict[str, Any],
    program: str,
    workdir: Path,
    limits: Limits,
    text: Corpus | None = None,
) -> EvalResult:
    try:
        ref = baseline(config, cfg, limits, workdir / "baseline", text)
    except RuntimeError as exc:
        return EvalResult(success=False, feedback=str(exc), error_class="baseline")
    if program == seed_source(BASELINE):
        mine, extra = ref, "this is the DeltaNet baseline itself (cached)"
    else:
        try:
            mine, extra = measure(program, config, cfg, limits, workdir / "candidate", text)
        except CandidateFailed as exc:
            return EvalResult(success=False, feedback=str(exc), error_class=exc.error_class)
    weight = float(config.get("recall_weight", 1.0))
    loss_gain = ref["val_loss"] - mine["val_loss"]
    recall_gain = mine["recall"] - ref["recall"]
    metrics = {
        "score": loss_gain + weight * recall_gain,
        "val_loss": mine["val_loss"],
        "perplexity": math.exp(mine["val_loss"]),
        "recall": mine["recall"],
        "tokens_per_s": mine["tokens_per_s"],
        "train_seconds": mine["train_seconds"],
        "model_params": mine["model_params"],
        "baseline_val_loss": ref["val_loss"],
        "baseline_recall": ref["recall"],
        "baseline_tokens_per_s": ref["tokens_per_s"],
        "seeds": len(cfg["seeds"]),
        "mixer_params": mine["mixer_params"],
        "flops_per_token": mine["flops_per_token"],
        "uses_gating": uses_gating(program),
    }
    metrics |= {k: v for k, v in mine.items() if k.startswith("zs_")}
    if "zs_mean" in ref:
        metrics["baseline_zs_mean"] = ref["zs_mean"]
    feedback = (
        f"val loss {mine['val_loss']:.4f} (DeltaNet {ref['val_loss']:.4f}), recall "
        f"{mine['recall']:.3f} (DeltaNet {ref['recall']:.3f}), {mine['tokens_per_s']:.0f} "
        f"tokens/s (DeltaNet {ref['tokens_per_s']:.0f}); score {metrics['score']:+.4f}"
    )
    return EvalResult(
        success=True, metrics=metrics, feedback="\n".join(filter(None, [feedback, extra]))
    )


class CandidateFailed(Exception):
    """Training or scoring a layer failed; the message is the researcher's feedback."""

    def __init__(self, message: str, error_class: str = "exception") -> None:
        super().__init__(message)
        self.error_class = error_class


def measure(
    program: str,
    config: dict[str, Any],
    cfg: dict[str, Any],
    limits: Limits,
    workdir: Path,
    text: Corpus | None = None,
) -> tuple[dict[str, float], str]:
    """Train ``program``'s layer and score it: (metrics averaged over seeds, stdout tail).

    Two sandboxed runs touch the candidate: ``train`` leaves one weights file per seed,
    ``logits`` leaves the last-position logits of those weights on held-out inputs this
    process drew with ``task.eval_seed``, which the candidate never sees. Loss and recall
    come from the logits and the targets kept here; parameters are counted from the
    weights, time is the training run's wall clock measured here. Only ``flops_per_token``
    (a MAP-Elites axis, not part of the score) is the candidate process's own report.
    With real ``text``, its training tokens are copied in (a link would let the candidate
    rewrite the cached file) and its held-out tokens never leave this process.
    """
    import torch

    limits = dataclasses.replace(limits, file_size_mb=max(limits.file_size_mb, 2048))
    workdir.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in cfg["seeds"]]
    driver = driver_module()
    outputs = [driver.weights_file(s) for s in seeds] + [driver.logits_file(s) for s in seeds]
    for name in [*outputs, driver.HELD_OUT, driver.TRAIN_TOKENS]:
        (workdir / name).unlink(missing_ok=True)
    if text is not None:
        shutil.copyfile(text.train, workdir / driver.TRAIN_TOKENS)
    started = time.monotonic()
    trained, extra = run_stage(program, "train", cfg, limits, workdir)
    seconds = time.monotonic() - started
    flops = _number(trained.get("flops_per_token")) if trained else None
    if trained is None or flops is None:
        raise CandidateFailed(f"proxy training failed:\n{extra or trained!r}")
    valid = None if text is None else torch.from_numpy(text.valid)
    batches = driver.held_out_set(cfg, int(config.get("eval_seed", 0)), valid)
    np.savez(workdir / driver.HELD_OUT, **{name: x.numpy() for name, x, _ in batches})
    targets = np.concatenate([y.numpy() for _, _, y in batches])
    is_lm = np.concatenate([np.full(len(y), name.startswith("lm")) for name, _, y in batches])
    scored, more = run_stage(program, "logits", cfg, limits, workdir)
    if scored is None:
        raise CandidateFailed(f"scoring the trained model failed:\n{more}")
    vocab = int(cfg["proxy"]["lm_vocab"]) + 2 * int(cfg["proxy"]["mqar_keys"])
    losses, recalls, mixer_params, model_params = [], [], set(), set()
    for seed in seeds:
        weights = load_weights(workdir / driver.weights_file(seed))
        mixer_params.add(sum(v.numel() for k, v in weights.items() if k.startswith(MIXER)))
        model_params.add(sum(v.numel() for v in weights.values()))
        logits = load_floats(workdir / driver.logits_file(seed), (len(targets), vocab))
        nll, correct = cross_entropy(logits, targets)
        losses.append(float(nll[is_lm].mean()))
        recalls.append(float(correct[~is_lm].mean()))
    if len(mixer_params) != 1 or len(model_params) != 1:
        raise CandidateFailed("the seeds' models differ in size", "invalid")
    zero_shot_tasks = list((config.get("zero_shot") or {}).get("tasks") or [])
    if zero_shot_tasks:
        metrics = zero_shot_metrics(program, config, cfg, limits, workdir, seeds[0])
    else:
        metrics = {}
    metrics |= {
        "val_loss": sum(losses) / len(losses),
        "recall": sum(recalls) / len(recalls),
        "tokens_per_s": driver.train_tokens(cfg) * len(seeds) / seconds,
        "train_seconds": seconds,
        "model_params": float(model_params.pop()),
        "mixer_params": float(mixer_params.pop()),
        "flops_per_token": flops,
    }
    return metrics, extra


def zero_shot_metrics(
    program: str,
    config: dict[str, Any],
    cfg: dict[str, Any],
    limits: Limits,
    workdir: Path,
    seed: int,
) -> dict[str, float]:
    """lm-eval accuracies (``zs_<task>_acc``) of one seed's model (zero_shot.py)."""
    from harness_arch_linear_attn import zero_shot

    settings = dict(config.get("zero_shot") or {})
    model = zero_shot.SandboxedProxyLM(
        corpus.tokenizer(str(cfg["data"].get("tokenizer") or corpus.BYTES)),
        int(cfg["proxy"]["seq_len"]),
        loglik_scorer(program, cfg, limits, workdir, seed),
    )
    try:
        found = zero_shot.evaluate(
            list(settings["tasks"]), model, settings.get("limit"), settings.get("include_path")
        )
    except CandidateFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - lm-eval's own errors: unknown task, no data...
        raise CandidateFailed(f"lm-eval failed: {type(exc).__name__}: {exc}", "zero_shot") from exc
    if not found:
        raise CandidateFailed(f"lm-eval reported no accuracy for {settings['tasks']}", "invalid")
    return {f"zs_{name}": value for name, value in found.items()} | {
        "zs_mean": sum(found.values()) / len(found)
    }


def loglik_scorer(
    program: str, cfg: dict[str, Any], limits: Limits, workdir: Path, seed: int
) -> Callable[[list[list[int]], list[list[int]]], np.ndarray]:
    """Scores token rows with seed ``seed``'s trained model in the sandbox (stage
    ``loglik``): per continuation token its logit, log-sum-exp and largest logit."""
    driver = driver_module()

    def score_rows(rows: list[list[int]], targets: list[list[int]]) -> np.ndarray:
        np.savez(
            workdir / driver.ZERO_SHOT,
            tokens=np.concatenate([np.asarray(r, np.int64) for r in rows]),
            offsets=np.cumsum([0, *(len(r) for r in rows)]),
            targets=np.concatenate([np.asarray(t, np.int64) for t in targets]),
            lengths=np.asarray([len(t) for t in targets]),
        )
        (workdir / driver.loglik_file(seed)).unlink(missing_ok=True)
        value, extra = run_stage(program, "loglik", {**cfg, "seeds": [seed]}, limits, workdir)
        if value is None:
            raise CandidateFailed(f"zero-shot scoring failed:\n{extra}")
        total = sum(len(t) for t in targets)
        return load_floats(workdir / driver.loglik_file(seed), (total, 3))

    return score_rows


MIXER = "blocks.0.mixer."
"""State-dict prefix of the first block's candidate layer (its parameter count)."""


def load_weights(path: Path) -> dict[str, Any]:
    """A state dict written by the candidate's process: tensors only, no code."""
    import torch

    if not path.is_file():
        raise CandidateFailed(f"training left no weights file {path.name}", "invalid")
    try:
        weights = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the candidate's fault
        raise CandidateFailed(f"unreadable weights {path.name}: {exc}", "invalid") from exc
    if not isinstance(weights, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()
    ):
        raise CandidateFailed(f"{path.name} is not a state dict of tensors", "invalid")
    return weights


def load_floats(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """An array written by the candidate's process, checked for shape and finiteness."""
    if not path.is_file():
        raise CandidateFailed(f"scoring left no file {path.name}", "invalid")
    try:
        values = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise CandidateFailed(f"unreadable {path.name}: {exc}", "invalid") from exc
    if values.shape != shape or not np.issubdtype(values.dtype, np.floating):
        raise CandidateFailed(
            f"{path.name}: expected floats of shape {shape}, got {values.dtype} "
            f"{values.shape}",
            "invalid",
        )
    if not np.isfinite(values).all():
        raise CandidateFailed(f"the trained model gives NaN or inf in {path.name}", "nonfinite")
    return values.astype(np.float64)


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row negative log-likelihood of ``targets`` and whether the argmax hit it."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    rows = np.arange(len(targets))
    nll = np.log(np.exp(shifted).sum(axis=1)) - shifted[rows, targets]
    return nll, logits.argmax(axis=1) == targets


@functools.cache
def driver_module() -> types.ModuleType:
    """The driver, executed in this process for its data and file-name helpers (torch)."""
    module = types.ModuleType("harness_arch_linear_attn_driver")
    exec(compile(driver_source(), "harness_arch_linear_attn_driver.py", "exec"), module.__dict__)
    return module


def uses_gating(program: str) -> int:
    """1 when the evolved block calls a sigmoid (a gate or a beta), the MAP-Elites axis."""
    start, end = program.find("EVOLVE-BLOCK-START"), program.find("EVOLVE-BLOCK-END")
    block = program[start:end] if 0 <= start < end else program
    return int("sigmoid" in block)


def baseline(
    config: dict[str, Any],
    cfg: dict[str, Any],
    limits: Limits,
    workdir: Path,
    text: Corpus | None = None,
) -> dict[str, float]:
    """DeltaNet's proxy metrics under ``cfg``, measured once and cached on disk.

    The key hashes the settings, the held-out seed, the plugin version, the driver and the
    seed's source and the torch version, so any change that could move the numbers trains
    it again. A file lock makes concurrent workers wait for one training instead of each
    running it.
    """
    import torch

    source = seed_source(BASELINE)
    key_data = json.dumps(
        [cfg, config.get("eval_seed"), config.get("zero_shot"), __version__, driver_source(),
         source, torch.__version__],  # fmt: skip
        sort_keys=True,
    )
    key = hashlib.sha256(key_data.encode()).hexdigest()[:24]
    path = cache_dir(config) / f"deltanet-{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_suffix(".lock")):
        if path.exists():
            cached = json.loads(path.read_text())
            if isinstance(cached, dict) and all(_number(cached.get(k)) is not None for k in _KEYS):
                return cached
        try:
            value, _ = measure(source, config, cfg, limits, workdir, text)
        except CandidateFailed as exc:
            raise RuntimeError(f"the DeltaNet baseline failed to train:\n{exc}") from exc
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(value))
        tmp.replace(path)
        return value


def cache_dir(config: dict[str, Any]) -> Path:
    raw = config.get("cache_dir")
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "harness-arch-linear-attn"


_KEYS = ("val_loss", "recall", "tokens_per_s", "train_seconds", "model_params")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
