"""The ``arch_linear_attn`` task: evolve a causal token-mixing layer against DeltaNet.

Two cascade stages. ``sanity`` builds the layer and checks shape, parameter budget, finite
outputs and gradients, causality and sub-quadratic cost; ``proxy`` trains a tiny language
model around it (synthetic text + MQAR recall) and scores it against DeltaNet trained with
the same budget, data and seeds. Both run the candidate only in the sandbox, under the
trusted ``driver`` module (see :class:`harness.driver_task.DriverTask`).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from collections.abc import Callable
from importlib.resources import as_file, files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.driver_task import Context, DriverTask
from harness.hookspecs import hookimpl
from harness.task import Descriptor, EvalResult, Noise, Stage, Task, TaskSpec, finite
from harness.tree import FileRule, Tree

from harness_arch_linear_attn import __version__, corpus
from harness_arch_linear_attn.cognition import COGNITION
from harness_arch_linear_attn.corpus import Corpus
from harness_arch_linear_attn.description import describe
from harness_arch_linear_attn.outputs import (
    MIXER,
    CandidateFailed,
    cross_entropy,
    load_floats,
    load_weights,
    uses_gating,
)
from harness_arch_linear_attn.schema import ArchConf

if TYPE_CHECKING:  # numpy is imported where it is used, not when the plugin loads
    import numpy as np

SEEDS = ("deltanet", "linear_attn", "gated_deltanet")
BASELINE = "deltanet"
#: The seeds of ``task.layout=tree``: directories ``seeds/tree/<name>/``.
TREE_SEEDS = ("deltanet",)
TREE_TEXT = """

The program is a package of files (a multi-file program): `layer.py` defines `TokenMixer`
(this is the file to change); it imports the delta-rule kernels from `ops.py` and its
defaults from `config.py`, which are {context}."""
#: The task keys the sandboxed driver gets: never ``eval_seed`` (the held-out inputs' seed).
DRIVER_KEYS = ("device", "threads", "seeds", "hidden_size", "num_heads", "max_mixer_params",
               "proxy", "mixer_options", "sanity", "data")  # fmt: skip
#: What a cached baseline must hold.
BASELINE_KEYS = ("val_loss", "recall", "tokens_per_s", "train_seconds", "model_params",
                 "mixer_params", "flops_per_token")  # fmt: skip


class ArchLinearAttn(DriverTask):
    """Evolve a token mixer; score it against DeltaNet in a proxy LM, one sample per seed."""

    name = "arch_linear_attn"
    package = "harness_arch_linear_attn"
    config_schema = ArchConf
    seeds = SEEDS
    stages = (
        Stage("sanity", description="build, budget, shape, finite, causal, sub-quadratic"),
        Stage("proxy", description="tiny LM + MQAR, scored against DeltaNet"),
    )
    cognition = COGNITION
    version = __version__
    driver_keys = DRIVER_KEYS
    versioned = ("torch",)
    noise = Noise()
    tree_main = "layer"

    def spec(self, config: dict[str, Any]) -> TaskSpec:
        """The driver task's spec; under ``task.layout=tree`` with the tree's seeds, its
        files' policies (``layer.py`` evolves, the rest is ``task.context``) and a word on
        the files in the description."""
        spec = super().spec(config)
        context = tree_context(config)
        if context is None:
            return spec
        said = "read-only context" if context == "read_only" else "evolvable too"
        return dataclasses.replace(
            spec,
            seeds=TREE_SEEDS,
            files=(FileRule("layer.py", "evolve"), FileRule("*", context)),
            description=spec.description + TREE_TEXT.format(context=said),
        )

    def seed(self, config: dict[str, Any], name: str) -> str | None:
        if tree_context(config) is None:
            return super().seed(config, name)
        return self.tree_seed(name) if name in TREE_SEEDS else None

    def tree_seed(self, name: str) -> str:
        """The multi-file seed ``seeds/tree/<name>/`` as its tree's text."""
        with as_file(files(self.package or "") / "seeds" / "tree" / name) as root:
            return Tree.read(root).text()

    def describe(self, settings: dict[str, Any]) -> str:
        return describe(settings)

    def descriptors(self, settings: dict[str, Any]) -> tuple[Descriptor, ...]:
        return (
            Descriptor("mixer_params", 0, settings["max_mixer_params"], "parameters of one layer"),
            Descriptor(
                "flops_per_token",
                0,
                64 * settings["hidden_size"] ** 2,
                "forward FLOPs per token at 4 x cost_seq_len (DeltaNet: about 16 hidden^2)",
            ),
            Descriptor("uses_gating", 0, 1, "whether the evolved code applies a sigmoid gate"),
        )

    def sanity(self, context: Context, program: str, workdir: Path) -> EvalResult:
        """Stage 1: the driver builds the layer and runs the checks, in the sandbox."""
        value, extra = self.run_driver(program, "sanity", context.settings, context.limits, workdir)
        if isinstance(value, EvalResult):
            return value
        if not value.get("passed"):
            check = str(value.get("check", "?"))
            message = f"sanity check '{check}' failed: {value.get('message', '')}"
            return EvalResult(
                success=False,
                metrics={"failed_check": check},
                feedback="\n".join(filter(None, [message, extra])),
                error_class="causality" if check == "causality" else "sanity",
            )
        keys = ("mixer_params", "flops_per_token", "flop_exponent", "time_exponent")
        metrics: dict[str, float | None] = {key: finite(value.get(key)) for key in keys}
        if any(v is None for v in metrics.values()):
            return EvalResult(
                success=False, feedback=f"malformed sanity report: {value!r}", error_class="invalid"
            )
        feedback = (
            f"sanity passed: {metrics['mixer_params']:.0f} parameters, forward FLOPs grow as "
            f"T^{metrics['flop_exponent']:.2f}, time as T^{metrics['time_exponent']:.2f}"
        )
        metrics.update(score=0.0, uses_gating=uses_gating(program))
        return EvalResult(success=True, metrics=metrics, feedback=feedback)

    def real_text(self, context: Context) -> Corpus | None:
        """The real text ``task.data.source`` asks for (``wiki``, the default, or a
        ``datasets`` corpus; its vocabulary then replaces ``proxy.lm_vocab`` in the
        settings), else None for the generated words (``synthetic``)."""
        settings = context.settings
        source = settings["data"].get("source", "synthetic")
        if source == "synthetic":
            if context.config["zero_shot"].get("tasks"):
                raise ValueError(
                    "zero_shot.tasks needs real text: set task.data.source=wiki or datasets"
                )
            return None
        if source not in (corpus.WIKI, "datasets"):
            raise ValueError(f"source must be wiki, synthetic or datasets, got {source!r}")
        found = corpus.prepare(settings["data"], self.cache_dir(context.config))
        settings["proxy"] = {**settings["proxy"], "lm_vocab": found.vocab}
        return found

    def proxy(self, context: Context, program: str, workdir: Path) -> EvalResult:
        """Stage 2: train the layer's LM and DeltaNet's alike on each seed of
        ``task.seeds``; one score per seed (its gain over DeltaNet on that seed), paired."""
        try:
            text = self.real_text(context)
        except Exception as exc:  # noqa: BLE001 - a download or tokenizer problem of the setup
            return EvalResult(success=False, feedback=f"task.data: {exc}", error_class="config")
        seeds = [int(s) for s in context.settings["seeds"]]
        try:
            refs = [self.baseline(context, workdir / "baseline", text, seed) for seed in seeds]
        except RuntimeError as exc:
            return EvalResult(success=False, feedback=str(exc), error_class="baseline")
        if program in (self.seed_source(BASELINE), self.tree_seed(BASELINE)):
            mine = baseline_as_measured(refs)
            extra = "this is the DeltaNet baseline itself (cached)"
        else:
            try:
                mine, extra = self.measure(context, program, workdir / "candidate", text)
            except CandidateFailed as exc:
                return EvalResult(success=False, feedback=str(exc), error_class=exc.error_class)
        weight = float(context.config["recall_weight"])
        samples = {
            seed: (ref["val_loss"] - loss) + weight * (recall - ref["recall"])
            for seed, ref, loss, recall in zip(
                seeds, refs, mine["val_loss_per_seed"], mine["recall_per_seed"], strict=True
            )
        }
        ref_mean = {key: mean([ref[key] for ref in refs]) for key in BASELINE_KEYS}
        metrics = {
            "score": mean(list(samples.values())),
            "val_loss": mine["val_loss"],
            "perplexity": math.exp(mine["val_loss"]),
            **{key: mine[key] for key in ("recall", "tokens_per_s", "train_seconds")},
            "model_params": mine["model_params"],
            "baseline_val_loss": ref_mean["val_loss"],
            "baseline_recall": ref_mean["recall"],
            "baseline_tokens_per_s": ref_mean["tokens_per_s"],
            "seeds": len(seeds),
            "score_per_seed": list(samples.values()),
            "val_loss_per_seed": mine["val_loss_per_seed"],
            "recall_per_seed": mine["recall_per_seed"],
            "baseline_val_loss_per_seed": [ref["val_loss"] for ref in refs],
            "baseline_recall_per_seed": [ref["recall"] for ref in refs],
            "mixer_params": mine["mixer_params"],
            "flops_per_token": mine["flops_per_token"],
            "uses_gating": uses_gating(program),
        }
        metrics |= {k: v for k, v in mine.items() if k.startswith("zs_")}
        if "zs_mean" in refs[0]:
            metrics["baseline_zs_mean"] = refs[0]["zs_mean"]
        feedback = (
            f"val loss {mine['val_loss']:.4f} (DeltaNet {ref_mean['val_loss']:.4f}), recall "
            f"{mine['recall']:.3f} (DeltaNet {ref_mean['recall']:.3f}), "
            f"{mine['tokens_per_s']:.0f} tokens/s (DeltaNet {ref_mean['tokens_per_s']:.0f}); "
            f"score {metrics['score']:+.4f}, per seed "
            + ", ".join(f"{seed}: {value:+.4f}" for seed, value in samples.items())
        )
        return EvalResult(
            success=True,
            metrics=metrics,
            feedback="\n".join(filter(None, [feedback, extra])),
            samples=samples,
        )

    def measure(
        self, context: Context, program: str, workdir: Path, text: Corpus | None = None
    ) -> tuple[dict[str, Any], str]:
        """Train ``program``'s layer and score it: (metrics, stdout tail). ``val_loss`` and
        ``recall`` are the means over ``settings["seeds"]``, ``*_per_seed`` their values in
        the seeds' order.

        Two sandboxed runs touch the candidate: ``train`` leaves one weights file per seed,
        ``logits`` leaves the last-position logits of those weights on held-out inputs this
        process drew with ``task.eval_seed``, which the candidate never sees. Loss and recall
        come from the logits and the targets kept here; parameters are counted from the
        weights, time is the training run's wall clock measured here. Only ``flops_per_token``
        (a MAP-Elites axis, not part of the score) is the candidate process's own report.
        With real ``text``, its training tokens are copied in (a link would let the candidate
        rewrite the cached file) and its held-out tokens never leave this process.
        """
        import numpy as np
        import torch

        from harness_arch_linear_attn import driver

        settings, limits = context.settings, context.limits
        limits = dataclasses.replace(limits, file_size_mb=max(limits.file_size_mb, 2048))
        workdir.mkdir(parents=True, exist_ok=True)
        seeds = [int(s) for s in settings["seeds"]]
        outputs = [driver.weights_file(s) for s in seeds] + [driver.logits_file(s) for s in seeds]
        for name in [*outputs, driver.HELD_OUT, driver.TRAIN_TOKENS]:
            (workdir / name).unlink(missing_ok=True)
        if text is not None:
            shutil.copyfile(text.train, workdir / driver.TRAIN_TOKENS)
        started = time.monotonic()
        trained, extra = self.run_driver(program, "train", settings, limits, workdir)
        seconds = time.monotonic() - started
        if isinstance(trained, EvalResult):
            raise CandidateFailed.of("proxy training", trained)
        flops = finite(trained.get("flops_per_token"))
        if flops is None:
            raise CandidateFailed(f"proxy training failed:\n{extra or trained!r}")
        valid = None if text is None else torch.from_numpy(text.valid)
        batches = driver.held_out_set(settings, int(context.config["eval_seed"]), valid)
        np.savez(workdir / driver.HELD_OUT, **{name: x.numpy() for name, x, _ in batches})
        targets = np.concatenate([y.numpy() for _, _, y in batches])
        is_lm = np.concatenate([np.full(len(y), name.startswith("lm")) for name, _, y in batches])
        scored, _ = self.run_driver(program, "logits", settings, limits, workdir)
        if isinstance(scored, EvalResult):
            raise CandidateFailed.of("scoring the trained model", scored)
        vocab = int(settings["proxy"]["lm_vocab"]) + 2 * int(settings["proxy"]["mqar_keys"])
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
        metrics: dict[str, Any] = {}
        if context.config["zero_shot"].get("tasks"):
            metrics = self.zero_shot_metrics(context, program, workdir, seeds[0])
        metrics |= {
            "val_loss": mean(losses),
            "recall": mean(recalls),
            "val_loss_per_seed": losses,
            "recall_per_seed": recalls,
            "tokens_per_s": driver.train_tokens(settings) * len(seeds) / seconds,
            "train_seconds": seconds,
            "model_params": float(model_params.pop()),
            "mixer_params": float(mixer_params.pop()),
            "flops_per_token": flops,
        }
        return metrics, extra

    def zero_shot_metrics(
        self, context: Context, program: str, workdir: Path, seed: int
    ) -> dict[str, float]:
        """lm-eval accuracies (``zs_<task>_acc``) of one seed's model (zero_shot.py)."""
        from harness_arch_linear_attn import zero_shot

        wanted, settings = context.config["zero_shot"], context.settings
        model = zero_shot.SandboxedProxyLM(
            corpus.tokenizer(str(settings["data"].get("tokenizer") or corpus.BYTES)),
            int(settings["proxy"]["seq_len"]),
            self.loglik_scorer(context, program, workdir, seed),
        )
        try:
            found = zero_shot.evaluate(
                list(wanted["tasks"]), model, wanted.get("limit"), wanted.get("include_path")
            )
        except CandidateFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - lm-eval's own errors: unknown task, no data...
            message = f"lm-eval failed: {type(exc).__name__}: {exc}"
            raise CandidateFailed(message, "zero_shot") from exc
        if not found:
            raise CandidateFailed(f"lm-eval reported no accuracy for {wanted['tasks']}", "invalid")
        return {f"zs_{name}": value for name, value in found.items()} | {
            "zs_mean": sum(found.values()) / len(found)
        }

    def loglik_scorer(
        self, context: Context, program: str, workdir: Path, seed: int
    ) -> Callable[[list[list[int]], list[list[int]]], np.ndarray]:
        """Scores token rows with seed ``seed``'s trained model in the sandbox (stage
        ``loglik``): per continuation token its logit, log-sum-exp and largest logit."""
        import numpy as np

        from harness_arch_linear_attn import driver

        def score_rows(rows: list[list[int]], targets: list[list[int]]) -> np.ndarray:
            np.savez(
                workdir / driver.ZERO_SHOT,
                tokens=np.concatenate([np.asarray(r, np.int64) for r in rows]),
                offsets=np.cumsum([0, *(len(r) for r in rows)]),
                targets=np.concatenate([np.asarray(t, np.int64) for t in targets]),
                lengths=np.asarray([len(t) for t in targets]),
            )
            (workdir / driver.loglik_file(seed)).unlink(missing_ok=True)
            one_seed = {**context.settings, "seeds": [seed]}
            value, _ = self.run_driver(program, "loglik", one_seed, context.limits, workdir)
            if isinstance(value, EvalResult):
                raise CandidateFailed.of("zero-shot scoring", value)
            total = sum(len(t) for t in targets)
            return load_floats(workdir / driver.loglik_file(seed), (total, 3))

        return score_rows

    def baseline(
        self, context: Context, workdir: Path, text: Corpus | None, seed: int
    ) -> dict[str, Any]:
        """DeltaNet's proxy metrics on training seed ``seed``, measured once and cached on
        disk, one file per seed: a fresh seed (a re-evaluation) trains only itself.

        The key hashes the settings (with ``seeds=[seed]``), the held-out seed, the zero-shot
        tasks, the driver's and the seed's source (and the plugin's and torch's versions), so
        any change that could move the numbers trains it again.
        """
        source = self.seed_source(BASELINE)
        config = context.config
        one_seed = dataclasses.replace(context, settings={**context.settings, "seeds": [seed]})
        key = self.cache_key(one_seed.settings, config["eval_seed"], config["zero_shot"],
                             self.trusted_source("driver"), source)  # fmt: skip

        def train() -> dict[str, Any]:
            try:
                return self.measure(one_seed, source, workdir / f"seed{seed}", text)[0]
            except CandidateFailed as exc:
                raise RuntimeError(f"the DeltaNet baseline failed to train:\n{exc}") from exc

        def complete(cached: Any) -> bool:
            return isinstance(cached, dict) and all(
                finite(cached.get(k)) is not None for k in BASELINE_KEYS
            )

        return self.cached_json(config, f"deltanet-{key}.json", train, complete)


def tree_context(config: dict[str, Any]) -> str | None:
    """The context files' policy under ``task.layout=tree``; ``None`` for ``layout=file``."""
    layout, context = config.get("layout", "file"), config.get("context", "read_only")
    if layout not in ("file", "tree"):
        raise ValueError(f"task.layout must be file or tree, got {layout!r}")
    if context not in ("read_only", "evolve"):
        raise ValueError(f"task.context must be read_only or evolve, got {context!r}")
    return None if layout == "file" else str(context)


def mean(values: list[float]) -> float:
    return math.fsum(values) / len(values)


def baseline_as_measured(refs: list[dict[str, Any]]) -> dict[str, Any]:
    """The cached one-seed baselines in the shape :meth:`ArchLinearAttn.measure` returns."""
    merged: dict[str, Any] = {key: mean([ref[key] for ref in refs]) for key in BASELINE_KEYS}
    merged |= {key: refs[0][key] for key in refs[0] if key.startswith("zs_")}
    merged |= {
        "train_seconds": math.fsum(ref["train_seconds"] for ref in refs),
        "val_loss_per_seed": [ref["val_loss"] for ref in refs],
        "recall_per_seed": [ref["recall"] for ref in refs],
    }
    return merged


TASK = ArchLinearAttn()


@hookimpl
def harness_register_tasks(register: Callable[[Task], None]) -> None:
    register(TASK)
