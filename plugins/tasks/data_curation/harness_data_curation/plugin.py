"""The ``data_curation`` task: evolve a program that cleans a raw pretraining corpus.

Two cascade stages. ``sample`` runs the candidate's ``curate`` on a fixed sample of raw
documents (the paper's engineer step): contract checks, documents per second, the label
diagnostics and the behaviour descriptors. ``proxy`` curates the whole corpus, trains a tiny
Llama on the result once per model seed, and scores bits per byte on held-out clean text
and lm-eval accuracies against the same model trained on the raw corpus (the score's zero)
on the same seeds: one paired sample per seed. The benchmarks run inside the proxy stage,
on the model the training child holds in memory, rather than as a third stage that would
have to store and reload each model.

Isolation, the reason for the layout: ``curate`` runs only in a sandboxed child beside the
trusted ``driver``, which sees a copy of the raw documents and nothing else; the corpus
cache (hidden labels, held-out text, references) is hidden from it. The evaluator validates
what it returned (:mod:`harness_data_curation.curation`). Each training child then runs
``proxy.py`` alone, no candidate code, on the validated text. A candidate can change the
text the model is trained on, nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from statistics import fmean
from typing import Any

from filelock import FileLock
from harness.driver_task import Context, DriverTask
from harness.hookspecs import hookimpl
from harness.sandbox import run_candidate
from harness.task import Descriptor, EvalResult, Noise, Stage, Task, finite

from harness_data_curation import __version__
from harness_data_curation import corpus as builder
from harness_data_curation.cognition import COGNITION
from harness_data_curation.curation import CurationError, diagnostics, read_curated, shape, summary
from harness_data_curation.description import describe
from harness_data_curation.judge import judge
from harness_data_curation.schema import DataCurationConf

SEEDS = ("identity", "naive", "heuristic")
#: The seed whose output is the raw corpus itself: the score's zero.
REFERENCE = "identity"
#: The modules that build the corpus: their sources are part of its cache key.
BUILDER = ("corpus.py", "damage.py", "junk.py", "benchmarks.py")
#: The config keys the training children get.
PROXY_KEYS = ("device", "threads", "model", "train", "benchmarks")
DESCRIPTORS = (
    Descriptor("fraction_kept", 0, 1, "documents kept / documents in"),
    Descriptor(
        "strategies",
        1,
        len(builder.CATEGORIES),
        "distinct behaviours over the categories on the same probe documents (1: category-blind)",
    ),  # fmt: skip
    Descriptor("rewrite_ratio", 0, 1, "rewritten / (rewritten + dropped) documents"),
)


class DataCuration(DriverTask):
    """Evolve a corpus curation; score a tiny LM trained on it against one trained on raw."""

    name = "data_curation"
    package = "harness_data_curation"
    config_schema = DataCurationConf
    seeds = SEEDS
    stages = (
        Stage(
            "sample",
            description="the curation of a fixed sample of raw documents: "
            "contract, speed, label diagnostics, descriptors",
        ),  # fmt: skip
        Stage(
            "proxy",
            description="the whole corpus curated, a tiny Llama trained per seed: "
            "bits per byte and lm-eval accuracies against the raw corpus",
        ),  # fmt: skip
    )
    cognition = COGNITION
    version = __version__
    driver_keys = PROXY_KEYS
    trusted = ("driver",)
    versioned = ("torch", "transformers", "tokenizers", "datasets", "lm-eval")
    #: One sample per model seed: that seed's gain over the raw corpus on the same seed.
    noise = Noise()

    def describe(self, settings: dict[str, Any]) -> str:
        return describe(settings)

    def descriptors(self, settings: dict[str, Any]) -> tuple[Descriptor, ...]:
        return DESCRIPTORS

    # ----------------------------------------------------------------- the corpus

    def corpus(self, config: dict[str, Any]) -> Path:
        """The corpus folder for this config, built once and cached (a file lock makes
        concurrent workers wait for one build; the folder appears whole or not at all)."""
        data = config["data"]
        user = bool(data.get("raw"))
        if user and not data.get("heldout"):
            raise ValueError("task.data.raw is set but task.data.heldout is not: bits per byte "
                             "needs clean held-out text (a `text` column)")  # fmt: skip
        spec = {"data": data, "vocab_size": config["corpus"]["vocab_size"]} if user else {
            "corpus": config["corpus"]}  # fmt: skip
        package = files(self.package)
        sources = [(package / name).read_text(encoding="utf-8") for name in BUILDER
                   if (package / name).is_file()]  # fmt: skip
        path = self.cache_dir(config) / f"corpus-{self.cache_key(spec, sources)}"
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):
            if (path / "stats.json").is_file():
                return path
            tmp = path.with_name(path.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            if user:
                builder.build_user(tmp, data["raw"], data["heldout"], dict(config["corpus"]))
            else:
                builder.build_synthetic(tmp, dict(config["corpus"]))
            tmp.rename(path)
        return path

    # ----------------------------------------------------------------- stages

    def sample(self, context: Context, program: str, workdir: Path) -> EvalResult:
        """Stage 1: the curation of a fixed sample of raw documents."""
        root = self.corpus(context.config)
        docs = _docs(root)
        size = min(int(context.config["sample"]["docs"]), len(docs))
        chosen = sorted(random.Random(context.config["corpus"]["seed"]).sample(range(len(docs)),
                                                                               size))  # fmt: skip
        outcome = self.curate(context, root, program, [docs[i] for i in chosen], workdir, "sample")
        if isinstance(outcome, EvalResult):
            return outcome
        metrics, lines, _ = outcome
        return EvalResult(
            success=True, metrics={"score": 0.0, **metrics}, feedback="\n".join(lines)
        )

    def proxy(self, context: Context, program: str, workdir: Path) -> EvalResult:
        """Stage 2: the whole corpus curated, then one training per seed, paired with raw."""
        root = self.corpus(context.config)
        seeds = [int(seed) for seed in context.config["seeds"]]
        if program == self.seed_source(REFERENCE):
            metrics, lines = dict(_identity_metrics(root)), ["this is the raw corpus itself"]
            corpus_file = None
        else:
            docs = _docs(root)
            outcome = self.curate(context, root, program, docs, workdir / "curate", "curate")
            if isinstance(outcome, EvalResult):
                return outcome
            metrics, lines, kept = outcome
            corpus_file = workdir / "curate" / "curated.jsonl"
            conf = context.config["judge"]
            if conf["model"]:
                raw = {doc["id"]: doc["text"] for doc in docs}
                metrics.update(judge(conf, raw, kept, context.config["corpus"]["seed"]))
        try:
            ref, mine = self.train_all(context, root, corpus_file, seeds, workdir)
        except RuntimeError as exc:
            return EvalResult(success=False, feedback=str(exc), error_class="baseline")
        if isinstance(mine, EvalResult):
            mine.feedback = "\n".join([*lines, mine.feedback])
            return mine
        weights = context.config["score"]
        label_gain = 0.0
        if "quality" in metrics:
            metrics["raw_quality"] = _identity_metrics(root)["quality"]
            label_gain = float(weights["label_weight"]) * (
                metrics["quality"] - metrics["raw_quality"]
            )
        gains = [label_gain + _gain(m, r, float(weights["accuracy_weight"]))
                 for m, r in zip(mine, ref, strict=True)]  # fmt: skip
        metrics.update(_proxy_metrics(mine, ref, gains), label_gain=label_gain)
        if "quality" in metrics:
            lines.append(
                f"labels: quality {metrics['quality']:.3f} (raw {metrics['raw_quality']:.3f}): "
                f"clean coverage {metrics['clean_coverage']:.3f}, junk share "
                f"{metrics['junk_share']:.3f} of the kept characters"
            )
        lines.append(_proxy_feedback(metrics, mine, ref, seeds))
        metrics = {k: round(v, 6) if isinstance(v, float) else v for k, v in metrics.items()}
        return EvalResult(success=True, metrics=metrics, feedback="\n".join(lines),
                          samples=dict(zip(seeds, gains, strict=True)))  # fmt: skip

    # ----------------------------------------------------------------- the curation child

    def curate(
        self,
        context: Context,
        root: Path,
        program: str,
        docs: list[dict[str, Any]],
        workdir: Path,
        stage: str,
    ) -> tuple[dict[str, Any], list[str], dict[int, str]] | EvalResult:
        """Run the candidate on ``docs`` of the corpus at ``root`` in the sandbox and validate
        what it kept: (metrics, feedback lines, the kept texts by id), or the failed result."""
        workdir.mkdir(parents=True, exist_ok=True)
        labels = _labels(root)
        probe = _probe(docs, labels, int(context.config["sample"]["probe_docs"]))
        for name, rows in (("docs.jsonl", docs), ("probe.jsonl", probe)):
            with (workdir / name).open("w", encoding="utf-8") as handle:
                for doc in rows:
                    handle.write(json.dumps(doc, ensure_ascii=False) + "\n")
        settings = {"categories": builder.CATEGORIES}
        hidden = (*context.limits.hidden, str(self.cache_dir(context.config)))
        limits = dataclasses.replace(context.limits, hidden=hidden)
        started = time.monotonic()
        value, extra = self.run_driver(program, stage, settings, limits, workdir)
        seconds = time.monotonic() - started
        if isinstance(value, EvalResult):
            value.feedback = "\n".join(filter(None, [value.feedback, extra]))
            return value
        if value.get("failure") is not None:
            failure = value["failure"]
            error_class = str(failure.get("error_class") or "contract")
            return EvalResult(success=False, feedback=str(failure.get("message")),
                              error_class=error_class)  # fmt: skip
        raw = {doc["id"]: doc["text"] for doc in docs}
        try:
            kept = read_curated(workdir / "curated.jsonl", raw,
                                float(context.config["output"]["max_growth"]))  # fmt: skip
        except CurationError as exc:
            return EvalResult(success=False, feedback=f"invalid curation: {exc}",
                              error_class="invalid")  # fmt: skip
        probe = value.get("probe")
        strategies = len(set(probe.values())) if isinstance(probe, dict) and probe else 1
        found = diagnostics(kept, {i: labels[i] for i in raw if i in labels}) if labels else {}
        metrics = {**shape(kept, raw), "strategies": strategies, "docs_per_s": len(docs) / seconds,
                   "curate_seconds": seconds, **found}  # fmt: skip
        lines = [
            f"{stage}: kept {len(kept)} of {len(docs)} documents ({metrics['chars_kept']:.3f} "
            f"of the characters), rewrote {metrics['rewritten']}, {strategies} distinct "
            f"per-category strategies, {metrics['docs_per_s']:.0f} docs/s",
            f"{stage} labels: {summary(found)}",
        ]
        return metrics, lines, kept

    # ----------------------------------------------------------------- training children

    def train_all(
        self,
        context: Context,
        root: Path,
        corpus_file: Path | None,
        seeds: list[int],
        workdir: Path,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | EvalResult]:
        """The raw reference and the candidate's training on each seed, ``jobs`` at a time.
        ``corpus_file`` None: the candidate is the raw corpus (its runs are the reference's)."""
        with ThreadPoolExecutor(max(1, int(context.config["jobs"]))) as pool:
            refs = [pool.submit(self.reference, context, root, s, workdir / f"raw-{s}")
                    for s in seeds]  # fmt: skip
            mine: list[Future[dict[str, Any] | EvalResult]] = []
            if corpus_file is not None:
                mine = [pool.submit(self.train, context, root, corpus_file, s,
                                    workdir / f"seed-{s}") for s in seeds]  # fmt: skip
            ref = [future.result() for future in refs]
            runs = [future.result() for future in mine]
        if corpus_file is None:
            return ref, ref
        failed = [run for run in runs if isinstance(run, EvalResult)]
        if failed:
            return ref, failed[0]
        return ref, [run for run in runs if isinstance(run, dict)]

    def train(
        self, context: Context, root: Path, corpus_file: Path, seed: int, workdir: Path
    ) -> dict[str, Any] | EvalResult:
        """One training child on ``corpus_file``: its report, or a failed result."""
        workdir.mkdir(parents=True, exist_ok=True)
        for name in ("tokenizer.json", "heldout.jsonl"):
            shutil.copyfile(root / name, workdir / name)
        shutil.copytree(root / "tasks", workdir / "tasks", dirs_exist_ok=True)
        shutil.copyfile(corpus_file, workdir / "corpus.jsonl")
        source = self.trusted_source("proxy")
        run = run_candidate(source, "run", args=(context.settings, seed), limits=context.limits,
                            workdir=workdir)  # fmt: skip
        if not run.ok or not _report_ok(run.value):
            return EvalResult(success=False, error_class=run.error_class or "proxy",
                              feedback=f"training on the curated corpus failed (seed {seed}):\n"
                              f"{run.feedback()}")  # fmt: skip
        return run.value

    def reference(self, context: Context, root: Path, seed: int, workdir: Path) -> dict[str, Any]:
        """The model trained on the raw corpus itself on ``seed``, cached as
        ``raw-<key>.json``: the key hashes the training settings, the seed, the corpus and
        the proxy's source (and the versions of torch, transformers...)."""
        key = self.cache_key(context.settings, seed, root.name, self.trusted_source("proxy"))

        def measure() -> dict[str, Any]:
            workdir.mkdir(parents=True, exist_ok=True)
            raw_corpus = workdir / "raw.jsonl"
            shutil.copyfile(root / "raw.jsonl", raw_corpus)
            outcome = self.train(context, root, raw_corpus, seed, workdir / "train")
            if isinstance(outcome, EvalResult):
                raise RuntimeError(f"the raw-corpus reference failed:\n{outcome.feedback}")
            return outcome

        return self.cached_json(context.config, f"raw-{key}.json", measure, _report_ok)


@lru_cache(maxsize=4)
def _docs(root: Path) -> list[dict[str, Any]]:
    """The raw documents of a corpus folder, read back through ``datasets`` (once per process)."""
    import datasets

    datasets.disable_progress_bars()  # a bar per read would clutter every evaluation's log
    return builder.read_jsonl(root / "raw.jsonl")


@lru_cache(maxsize=4)
def _identity_metrics(root: Path) -> dict[str, Any]:
    """The raw corpus's own shape and diagnostics (the reference keeps everything)."""
    raw = {doc["id"]: doc["text"] for doc in _docs(root)}
    labels = _labels(root)
    return {**shape(raw, raw), "strategies": 1, **(diagnostics(raw, labels) if labels else {})}


def _probe(
    docs: list[dict[str, Any]], labels: dict[int, dict[str, Any]], size: int
) -> list[dict[str, Any]]:
    """The documents each category label is tried on: taken in turn from each kind of the
    hidden labels (clean, damaged, every junk kind), so that rules which differ only near a
    threshold meet a document that tells them apart; the first ``size`` without labels."""
    if not labels:
        return docs[:size]
    groups: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        label = labels[doc["id"]]
        kind = label["kind"] if label["kind"] != "clean" or not label["damage"] else "damaged"
        groups.setdefault(kind, []).append(doc)
    queues = [groups[kind] for kind in sorted(groups)]
    chosen: list[dict[str, Any]] = []
    while len(chosen) < size and any(queues):
        for queue in queues:
            if queue and len(chosen) < size:
                chosen.append(queue.pop(0))
    return chosen


@lru_cache(maxsize=4)
def _labels(root: Path) -> dict[int, dict[str, Any]]:
    """The hidden labels by id, each clean document's with its clean text's length
    (``clean_chars``); empty for a user corpus, which has none."""
    path = root / "labels.jsonl"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8") as handle:
        labels = {row["id"]: row for row in map(json.loads, handle)}
    with (root / "clean.jsonl").open(encoding="utf-8") as handle:
        for row in map(json.loads, handle):
            labels[row["id"]]["clean_chars"] = len(row["text"])
    return labels


def _report_ok(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and finite(value.get("bpb")) is not None
        and isinstance(value.get("benchmarks"), dict)
        and all(finite(v.get("acc")) is not None for v in value["benchmarks"].values())
    )


def _accuracy(run: dict[str, Any]) -> float:
    values = [v["acc"] for v in run["benchmarks"].values()]
    return fmean(values) if values else 0.0


def _gain(mine: dict[str, Any], ref: dict[str, Any], weight: float) -> float:
    """A seed's proxy gain: bits per byte saved over raw, plus ``weight`` x accuracy gained."""
    return (ref["bpb"] - mine["bpb"]) + weight * (_accuracy(mine) - _accuracy(ref))


def _proxy_metrics(
    mine: list[dict[str, Any]], ref: list[dict[str, Any]], gains: list[float]
) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        "score": fmean(gains),
        "bpb": fmean([m["bpb"] for m in mine]),
        "raw_bpb": fmean([r["bpb"] for r in ref]),
        "bpb_per_seed": [round(m["bpb"], 4) for m in mine],
        "raw_bpb_per_seed": [round(r["bpb"], 4) for r in ref],
        "accuracy": fmean([_accuracy(m) for m in mine]),
        "raw_accuracy": fmean([_accuracy(r) for r in ref]),
    }
    for task in mine[0]["benchmarks"]:
        for metric in ("acc", "acc_norm"):
            metrics[f"{task}_{metric}"] = fmean([m["benchmarks"][task][metric] for m in mine])
            metrics[f"raw_{task}_{metric}"] = fmean([r["benchmarks"][task][metric] for r in ref])
        metrics[f"{task}_acc_per_seed"] = [round(m["benchmarks"][task]["acc"], 4) for m in mine]
    metrics.update(
        loss_first=fmean([m["loss_first"] for m in mine]),
        loss_last=fmean([m["loss_last"] for m in mine]),
        corpus_tokens=mine[0]["corpus_tokens"],
        epochs=mine[0]["epochs"],
        train_seconds=fmean([m["seconds"]["train"] for m in mine]),
    )
    return metrics


def _proxy_feedback(
    metrics: dict[str, Any], mine: list[dict[str, Any]], ref: list[dict[str, Any]], seeds: list[int]
) -> str:
    tasks = ", ".join(
        f"{task} {metrics[f'{task}_acc']:.3f} (raw {metrics[f'raw_{task}_acc']:.3f})"
        for task in mine[0]["benchmarks"]
    )
    return (
        f"proxy: bits per byte {metrics['bpb']:.4f} against {metrics['raw_bpb']:.4f} for the raw "
        f"corpus over seeds {seeds} (per seed {metrics['bpb_per_seed']} vs "
        f"{metrics['raw_bpb_per_seed']}); {tasks}; {metrics['corpus_tokens']} tokens kept, "
        f"{metrics['epochs']:.2f} epochs in the budget; training loss "
        f"{metrics['loss_first']:.3f} -> {metrics['loss_last']:.3f}; score "
        f"{metrics['score']:+.4f} = label-quality gain {metrics['label_gain']:+.4f} + bpb saved "
        "+ weighted accuracy gained"
    )


TASK = DataCuration()


@hookimpl
def harness_register_tasks(register: Callable[[Task], None]) -> None:
    register(TASK)
