"""The ``biomed`` task: evolve a drug–target interaction model (seed: DrugBAN in plain torch).

Three cascade stages. ``contract`` builds the candidate's model and runs one tiny batch
(shapes, finiteness, gradients, size, attention). ``quick`` trains it on the quick synthetic
set's random split, one seed: a cheap gate (validation AUROC) before the expensive stage.
``full`` trains it once per seed on every split of the benchmark (the synthetic set's
random, unseen-drug and unseen-protein splits, or the user's CSV folders); the fitness of a
seed is a weighted sum of validation AUROC and AUPRC over the splits, one sample per seed.

Isolation, the reason for the layout: the model runs only in a sandboxed child beside the
trusted ``driver``, whose working directory holds the featurised molecules and proteins,
the training pairs with their labels, and the validation and test pairs without theirs.
The labels, the benchmark cache, the user's CSV folder and this package (the generator's
source) are hidden from it. The child writes predicted probabilities per epoch; this
process computes every metric (:mod:`harness_biomed.metrics`). A candidate can change the
predictions, nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import statistics
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock
from harness.driver_task import Context, DriverTask
from harness.hookspecs import hookimpl
from harness.task import Descriptor, EvalResult, Noise, Stage, Task, TaskSpec, finite

from harness_biomed import __version__
from harness_biomed.benchmark import PARTS
from harness_biomed.cognition import COGNITION
from harness_biomed.description import describe
from harness_biomed.metrics import METRICS, select
from harness_biomed.schema import BiomedConf

if TYPE_CHECKING:  # numpy is imported where it is used, not when the plugin loads
    import numpy as np

SEEDS = ("drugban", "drug_only", "prot_only")
#: The modules that build and featurise a benchmark: their sources are part of its cache key.
BUILDER = ("benchmark.py", "molecules.py", "proteins.py", "synthetic.py", "csvdata.py",
           "featurize.py")  # fmt: skip
#: Training keys the child gets (besides threads, device, the spec and what to run).
TRAIN_KEYS = ("epochs", "batch_size", "eval_batch_size", "block_proteins", "lr", "weight_decay",
              "grad_clip")  # fmt: skip
#: Within this of 0.5, a split's validation AUROC is reported as chance.
CHANCE = 0.02
DESCRIPTORS = (
    Descriptor("log10_params", 3, 7, "log10 of the model's parameter count"),
    Descriptor(
        "interaction_share", 0, 1, "share of the trained model's logit variance on a drug x "
        "protein grid that is interaction, not drug or protein effect (additive model: 0)"
    ),
    Descriptor("uses_attention", 0, 1, "1 when the forward pass calls softmax or attention"),
)  # fmt: skip


class Biomed(DriverTask):
    """Evolve a DTI model; score it by validation AUROC/AUPRC across cold-start splits."""

    name = "biomed"
    package = "harness_biomed"
    config_schema = BiomedConf
    seeds = SEEDS
    stages = (
        Stage("contract", description="one tiny batch: shapes, finiteness, gradients, size"),
        Stage(
            "quick",
            description="the quick synthetic set's random split, one seed: "
            "validation AUROC as a gate",
        ),  # fmt: skip
        Stage(
            "full",
            description="every split, one training per seed: validation AUROC and "
            "AUPRC scored, test metrics reported",
        ),  # fmt: skip
    )
    cognition = COGNITION
    version = __version__
    trusted = ("driver",)
    versioned = ("torch", "rdkit", "numpy", "scikit-learn")
    #: One sample per training seed: that seed's weighted validation metrics.
    noise = Noise()

    def settings(self, config: dict[str, Any]) -> dict[str, Any]:
        """What every child gets: threads, device, the model's spec and the training budget."""
        from harness_biomed.featurize import spec

        model_spec = {**spec(int(config["max_protein_len"])), "width": int(config["width"])}
        train = {key: config["train"][key] for key in TRAIN_KEYS}
        settings = {"threads": int(config["threads"]), "device": config["device"],
                    "spec": model_spec, "contract_pairs": int(config["contract_pairs"]),
                    "grid": int(config["grid"]), **train}  # fmt: skip
        return json.loads(json.dumps(settings))

    def spec(self, config: dict[str, Any]) -> TaskSpec:
        if config["synthetic"]["size"] not in ("quick", "full"):
            raise ValueError(f"task.synthetic.size must be quick or full, not "
                             f"{config['synthetic']['size']!r}")  # fmt: skip
        spec = super().spec(config)
        gate = float(config["quick"]["threshold"])
        stages = tuple(dataclasses.replace(stage, threshold=gate) if stage.name == "quick"
                       else stage for stage in spec.stages)  # fmt: skip
        return dataclasses.replace(spec, stages=stages)

    def describe(self, settings: dict[str, Any]) -> str:
        return describe(settings)

    def descriptors(self, settings: dict[str, Any]) -> tuple[Descriptor, ...]:
        return DESCRIPTORS

    # ----------------------------------------------------------------- benchmarks

    def benchmark(self, config: dict[str, Any], which: str) -> Path:
        """The prepared benchmark folder (``child.npz``, ``labels.npz``, ``info.json``):
        ``quick`` is the quick synthetic set, ``full`` the configured one (the CSV folder
        when ``task.data.path`` is set). Built once per setting and cached; a file lock makes
        concurrent workers wait for one build; the folder appears whole or not at all."""
        path_conf = config["data"]["path"]
        if which == "full" and path_conf:
            source = Path(path_conf).expanduser().resolve()
            if not source.is_dir():
                raise ValueError(f"task.data.path={path_conf!r} is not a folder")
            what: dict[str, Any] = {"csv": str(source), "mtime": _tree_mtime(source)}
        else:
            size = "quick" if which == "quick" else config["synthetic"]["size"]
            what = {"synthetic": size, "seed": int(config["synthetic"]["seed"])}
        what["max_protein_len"] = int(config["max_protein_len"])
        package = files(self.package)
        sources = [(package / name).read_text(encoding="utf-8") for name in BUILDER]
        path = self.cache_dir(config) / f"bench-{self.cache_key(what, sources)}"
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):
            if not (path / "info.json").is_file():
                tmp = path.with_name(path.name + ".tmp")
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir()
                _prepare(tmp, what)
                tmp.rename(path)
        return path

    # ----------------------------------------------------------------- stages

    def contract(self, context: Context, program: str, workdir: Path) -> EvalResult:
        """Stage 1: one tiny batch through the model, in the sandbox."""
        bench = self.benchmark(context.config, "quick")
        info = _info(bench)
        settings = {**context.settings, "splits": [info["splits"][0]]}
        value = self.child(context, program, "contract", settings, bench, workdir)
        if isinstance(value, EvalResult):
            return value
        found = _probes(value)
        if found is None:
            return EvalResult(success=False, feedback=f"malformed contract report: {value!r:.300}",
                              error_class="invalid")  # fmt: skip
        feedback = (
            f"contract passed: {found['params']:,} parameters, logits of the right shape and "
            f"finite on {value.get('pairs')} pairs, gradients finite; attention "
            f"{'used' if found['uses_attention'] else 'not used'}"
        )
        return EvalResult(success=True, metrics={"score": 0.0, **found}, feedback=feedback)

    def quick(self, context: Context, program: str, workdir: Path) -> EvalResult:
        """Stage 2: the quick set's random split, the first seed: validation AUROC."""
        conf = context.config["quick"]
        bench = self.benchmark(context.config, "quick")
        seed = int(context.config["seeds"][0])
        settings = {**context.settings, "splits": [conf["split"]], "seeds": [seed],
                    "epochs": int(conf["epochs"])}  # fmt: skip
        outcome = self.train(context, program, settings, bench, workdir)
        if isinstance(outcome, EvalResult):
            return outcome
        found = outcome[conf["split"]][0]
        auroc = found["val"]["auroc"]
        feedback = (
            f"quick ({_info(bench)['name']}, split {conf['split']}, seed {seed}, "
            f"{settings['epochs']} epochs): {_line(found)}"
        )
        if auroc < float(conf["threshold"]):
            feedback += f"\n{_chance(found) or 'validation AUROC below the gate'}"
        return EvalResult(success=True, metrics={"score": round(auroc, 6), "quick_val_auroc":
                          round(auroc, 6)}, feedback=feedback)  # fmt: skip

    def full(self, context: Context, program: str, workdir: Path) -> EvalResult:
        """Stage 3: every split, one training child per seed (``jobs`` at a time)."""
        bench = self.benchmark(context.config, "full")
        info = _info(bench)
        seeds = [int(seed) for seed in context.config["seeds"]]
        settings = {**context.settings, "splits": info["splits"]}
        with ThreadPoolExecutor(max(1, int(context.config["jobs"]))) as pool:
            futures = [pool.submit(self.train, context, program, {**settings, "seeds": [s]},
                                   bench, workdir / f"seed-{s}") for s in seeds]  # fmt: skip
            outcomes = [future.result() for future in futures]
        failed = [o for o in outcomes if isinstance(o, EvalResult)]
        if failed:
            return failed[0]
        per_split = {split: [o[split][0] for o in outcomes if isinstance(o, dict)]
                     for split in info["splits"]}  # fmt: skip
        weights = _weights(info["splits"], context.config["score"]["splits"])
        conf = context.config["score"]
        samples = {
            seed: math.fsum(
                w * (conf["auroc"] * per_split[s][i]["val"]["auroc"]
                     + conf["auprc"] * per_split[s][i]["val"]["auprc"])
                for s, w in weights.items()
            )
            for i, seed in enumerate(seeds)
        }  # fmt: skip
        metrics = _full_metrics(per_split, samples)
        lines = [f"full ({info['name']}, seeds {seeds}, {settings['epochs']} epochs per split; "
                 "validation scored, test reported):"]  # fmt: skip
        for split, runs in per_split.items():
            lines.append(f"  {split} (weight {weights.get(split, 0):.2f}): " + _summary(runs))
            lines.extend(f"  {split}: {note}" for note in {_chance(r) for r in runs} if note)
        lines.append(
            f"score {metrics['score']:.4f} = sum over splits of weight x ({conf['auroc']} x val "
            f"AUROC + {conf['auprc']} x val AUPRC); per seed "
            + ", ".join(f"{s}: {v:.4f}" for s, v in samples.items())
        )
        return EvalResult(success=True, metrics=metrics, feedback="\n".join(lines),
                          samples=samples)  # fmt: skip

    # ----------------------------------------------------------------- sandboxed children

    def child(
        self,
        context: Context,
        program: str,
        stage: str,
        settings: dict[str, Any],
        bench: Path,
        workdir: Path,
    ) -> dict[str, Any] | EvalResult:
        """One driver child on ``bench`` (its label-free arrays only) with the labels, the
        cache, the user's data and this package hidden: its dict or the failed result."""
        workdir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bench / "child.npz", workdir / "data.npz")
        hidden = [str(self.cache_dir(context.config)), str(Path(__file__).resolve().parent)]
        if context.config["data"]["path"]:
            hidden.append(str(Path(context.config["data"]["path"]).expanduser().resolve()))
        limits = dataclasses.replace(context.limits, hidden=(*context.limits.hidden, *hidden))
        value, extra = self.run_driver(program, stage, settings, limits, workdir)
        if isinstance(value, EvalResult):
            value.feedback = "\n".join(filter(None, [value.feedback, extra]))
            return value
        if value.get("failure") is not None:
            return EvalResult(success=False, feedback=f"{stage}: {value['failure']}",
                              error_class="contract")  # fmt: skip
        return value

    def train(
        self,
        context: Context,
        program: str,
        settings: dict[str, Any],
        bench: Path,
        workdir: Path,
    ) -> dict[str, list[dict[str, Any]]] | EvalResult:
        """Train on every split x seed of ``settings`` in one child; per split, each seed's
        metrics (:func:`harness_biomed.metrics.select`) and what the child reported."""
        import numpy as np

        value = self.child(context, program, "train", settings, bench, workdir)
        if isinstance(value, EvalResult):
            return value
        runs = value.get("runs")
        expected = [(split, seed) for seed in settings["seeds"] for split in settings["splits"]]
        if not isinstance(runs, list) or [(r.get("split"), r.get("seed")) for r in runs
                                          if isinstance(r, dict)] != expected:  # fmt: skip
            return EvalResult(success=False, feedback=f"malformed training report: {value!r:.300}",
                              error_class="invalid")  # fmt: skip
        labels = np.load(bench / "labels.npz")
        out: dict[str, list[dict[str, Any]]] = {}
        for run in runs:
            split, seed = run["split"], run["seed"]
            val_y, test_y = labels[f"val-{split}"], labels[f"test-{split}"]
            preds = _predictions(workdir / f"preds-{split}-{seed}.npz", settings["epochs"],
                                 len(val_y), len(test_y))  # fmt: skip
            if isinstance(preds, str):
                return EvalResult(success=False, feedback=f"split {split}, seed {seed}: {preds}",
                                  error_class="invalid")  # fmt: skip
            found = select(val_y, test_y, *preds)
            found.update(
                seconds=finite(run.get("seconds")),
                losses=run.get("losses"),
                interaction_share=finite(run.get("interaction_share")),
                params=run.get("params"),
                uses_attention=run.get("uses_attention"),
            )
            out.setdefault(split, []).append(found)
        return out


def _prepare(folder: Path, what: dict[str, Any]) -> None:
    """Build the benchmark ``what`` and featurise it into ``folder``: ``child.npz`` (what a
    child sees), ``labels.npz`` (validation and test labels) and ``info.json``."""
    import numpy as np

    from harness_biomed import featurize

    if "csv" in what:
        from harness_biomed.csvdata import load

        bench = load(Path(what["csv"]))
    else:
        from harness_biomed.synthetic import from_config

        bench = from_config(what["synthetic"], what["seed"])
    arrays = {**featurize.molecules(bench.drugs),
              **featurize.proteins(bench.proteins, what["max_protein_len"])}  # fmt: skip
    arrays["protein_tokens"] = arrays["protein_tokens"].astype(np.uint8)
    labels: dict[str, np.ndarray] = {}
    info: dict[str, Any] = {"name": bench.name, "splits": list(bench.splits), "sizes": {},
                            "drugs": len(bench.drugs), "proteins": len(bench.proteins),
                            "max_protein_len": what["max_protein_len"],
                            "cut_proteins": int(sum(len(p) > what["max_protein_len"]
                                                    for p in bench.proteins))}  # fmt: skip
    for name, split in bench.splits.items():
        arrays[f"train-{name}"] = split.train
        for part in ("val", "test"):
            rows = split.part(part)
            arrays[f"{part}-{name}"] = rows[:, :2].copy()
            labels[f"{part}-{name}"] = rows[:, 2].copy()
        info["sizes"][name] = {part: [len(split.part(part)), float(split.part(part)[:, 2].mean())]
                               for part in PARTS}  # fmt: skip
    np.savez(folder / "child.npz", **arrays)
    np.savez(folder / "labels.npz", **labels)
    (folder / "info.json").write_text(json.dumps(info, indent=1), encoding="utf-8")


def _tree_mtime(folder: Path) -> list[tuple[str, int, float]]:
    """The CSVs under ``folder`` with sizes and times: an edited file rebuilds the cache."""
    return [(str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime)
            for p in sorted(folder.rglob("*.csv"))]  # fmt: skip


def _info(bench: Path) -> dict[str, Any]:
    return json.loads((bench / "info.json").read_text(encoding="utf-8"))


def _predictions(
    path: Path, epochs: int, n_val: int, n_test: int
) -> tuple[np.ndarray, np.ndarray] | str:
    """A child's predictions (untrusted: checked for shape and range), or what is wrong."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as found:
            val, test = found["val"], found["test"]
    except (OSError, KeyError, ValueError) as exc:
        return f"no readable predictions ({path.name}): {exc}"
    for name, array, n in (("validation", val, n_val), ("test", test, n_test)):
        if array.shape != (epochs, n):
            return f"{name} predictions of shape {array.shape}, expected {(epochs, n)}"
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            return f"{name} predictions outside [0, 1] or not finite"
    return val.astype(np.float64), test.astype(np.float64)


def _probes(value: dict[str, Any]) -> dict[str, Any] | None:
    params, attention = value.get("params"), value.get("uses_attention")
    if not isinstance(params, int) or params <= 0 or attention not in (0.0, 1.0):
        return None
    return {"params": params, "log10_params": round(math.log10(params), 4),
            "uses_attention": float(attention)}  # fmt: skip


def _weights(splits: list[str], configured: dict[str, float]) -> dict[str, float]:
    """The splits' weights, normalised; splits the config does not name (a user's CSV
    folders) share equally when none is named."""
    named = {s: float(configured[s]) for s in splits if s in configured}
    if not named or sum(named.values()) <= 0:
        named = {s: 1.0 for s in splits}
    total = sum(named.values())
    return {s: w / total for s, w in named.items()}


def _chance(found: dict[str, Any]) -> str:
    """Why a model is at chance on a split, or ''."""
    if found["val_spread"] < 1e-6:
        return "the model predicts the same probability for every pair (a constant)"
    if abs(found["val"]["auroc"] - 0.5) < CHANCE:
        return (f"at chance: validation AUROC {found['val']['auroc']:.3f} (the model does not "
                "rank interacting pairs above the others)")  # fmt: skip
    return ""


def _line(found: dict[str, Any]) -> str:
    val, test = found["val"], found["test"]
    return (
        "val " + " ".join(f"{m.upper()} {val[m]:.3f}" for m in METRICS)
        + " | test " + " ".join(f"{m.upper()} {test[m]:.3f}" for m in METRICS)
        + f" (epoch {found['epoch']}, {found['seconds'] or 0:.0f} s)"
    )  # fmt: skip


def mean_sd(values: list[float]) -> str:
    """``0.731±0.007``: the mean and the sample standard deviation (0 for one value)."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f}±{sd:.3f}"


def _summary(runs: list[dict[str, Any]]) -> str:
    parts = []
    for part in ("val", "test"):
        cells = []
        for metric in METRICS:
            cells.append(f"{metric.upper()} {mean_sd([r[part][metric] for r in runs])}")
        parts.append(f"{part} " + " ".join(cells))
    epochs = ",".join(str(r["epoch"]) for r in runs)
    return " | ".join(parts) + f" (best epochs {epochs})"


def _full_metrics(
    per_split: dict[str, list[dict[str, Any]]], samples: dict[int, float]
) -> dict[str, Any]:
    first = next(iter(per_split.values()))[0]
    metrics: dict[str, Any] = {"score": math.fsum(samples.values()) / len(samples)}
    for split, runs in per_split.items():
        for part in ("val", "test"):
            for metric in METRICS:
                values = [r[part][metric] for r in runs]
                metrics[f"{split}_{part}_{metric}"] = math.fsum(values) / len(values)
            for metric in ("auroc", "auprc"):
                metrics[f"{split}_{part}_{metric}_per_seed"] = [round(r[part][metric], 4)
                                                                for r in runs]  # fmt: skip
        metrics[f"{split}_best_epoch"] = [r["epoch"] for r in runs]
    shares = [r["interaction_share"] for runs in per_split.values() for r in runs
              if r["interaction_share"] is not None]  # fmt: skip
    metrics["interaction_share"] = math.fsum(shares) / len(shares) if shares else 0.0
    seconds = [r["seconds"] for runs in per_split.values() for r in runs if r["seconds"]]
    metrics["train_seconds"] = math.fsum(seconds)
    found = _probes({"params": first.get("params"), "uses_attention": first.get("uses_attention")})
    metrics.update(found or {})
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in metrics.items()}


TASK = Biomed()


@hookimpl
def harness_register_tasks(register: Callable[[Task], None]) -> None:
    register(TASK)
