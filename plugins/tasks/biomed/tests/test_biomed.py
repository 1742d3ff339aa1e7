"""The biomed task: the prepared benchmark keeps labels out of the child, hostile candidates
are contained with a reason, the cascade's stages, a user's CSV folder, and tiny evaluations
and runs end to end."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from harness.config import compose_config
from harness.evaluation import evaluate_program
from harness.tasks import task_limits, task_spec
from omegaconf import OmegaConf

from harness_biomed.plugin import TASK

#: The quick set everywhere, one seed, one epoch (too few to pass the quick gate): seconds
#: per stage.
TINY = ["task.synthetic.size=quick", "task.seeds=[0]", "task.train.epochs=1",
        "task.quick.epochs=1", "task.quick.threshold=0"]  # fmt: skip
_ROOTS = [root / "shared" / "data" / "dti" for root in Path(__file__).resolve().parents[4:6]]
DTI = next((root for root in _ROOTS if root.is_dir()), _ROOTS[0])
needs_dti = pytest.mark.skipif(not DTI.is_dir(), reason=f"{DTI} is absent")
DRUGBAN = TASK.seed_source("drugban")


def config(cache: Path, *overrides: str) -> dict[str, Any]:
    composed = compose_config(["+task=biomed", *TINY, f"task.cache_dir={cache}", *overrides])
    return OmegaConf.to_container(composed.task, resolve=True)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def cache() -> Iterator[Path]:
    """Under /var/tmp, not /tmp: the sandbox gives every child a private /tmp, which would
    hide a cache there whether or not the task hides its cache dir itself."""
    folder = Path(tempfile.mkdtemp(prefix="harness-biomed-test-", dir="/var/tmp"))
    yield folder / "cache"
    shutil.rmtree(folder, ignore_errors=True)


def evaluate(cfg: dict[str, Any], program: str, stage: str) -> Any:
    limits = task_limits(cfg, task_spec(cfg))
    workdir = Path(tempfile.mkdtemp(prefix=f"work-{stage}-", dir=Path(cfg["cache_dir"]).parent))
    return TASK.evaluate(cfg, program, workdir, limits, stage)


@pytest.mark.isolation
def test_the_child_gets_no_validation_or_test_label(cache: Path) -> None:
    bench = TASK.benchmark(config(cache), "quick")
    info = json.loads((bench / "info.json").read_text())
    with np.load(bench / "child.npz") as child, np.load(bench / "labels.npz") as labels:
        for split in info["splits"]:
            assert child[f"train-{split}"].shape[1] == 3
            for part in ("val", "test"):
                assert child[f"{part}-{split}"].shape[1] == 2  # drug, protein: no label
                assert len(labels[f"{part}-{split}"]) == len(child[f"{part}-{split}"])
        assert not any(key.startswith(("label", "y")) for key in child.files)
    assert info["splits"] == ["random", "unseen_drug", "unseen_protein"]
    assert TASK.benchmark(config(cache), "quick") == bench  # cached


NAN_MODEL = (
    DRUGBAN
    + """
_build = build_model

def build_model(spec):
    model = _build(spec)
    forward = model.forward
    model.forward = lambda *a: forward(*a) * float("nan")
    return model
"""
)
CONSTANT = """
import torch
from torch import nn

class Constant(nn.Module):
    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, drugs, proteins, pairs):
        return self.bias.expand(pairs.shape[1])

def build_model(spec):
    return Constant()
"""
HOSTILE = {
    "nan": (NAN_MODEL, "contract", "non-finite logits", "contract"),
    "labels": ("def build_model(spec):\n    return open(LABELS, 'rb').read()\n", "contract",
               "No such file", None),
    "memory": ("def build_model(spec):\n    return bytearray(64 * 2**30)\n", "contract", None,
               "memory"),
    "hang": ("def build_model(spec):\n    while True:\n        pass\n", "contract", None,
             "timeout"),
    "no function": ("def build(spec):\n    return None\n", "contract", "build_model(spec)",
                    "contract"),
    "wrong shape": (CONSTANT.replace("expand(pairs.shape[1])", "expand(3, pairs.shape[1])"),
                    "contract", "expected (", "contract"),
}  # fmt: skip


@pytest.mark.isolation
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_candidate_is_contained_and_fails_with_a_reason(cache: Path, name: str) -> None:
    source, stage, words, error_class = HOSTILE[name]
    bench = TASK.benchmark(config(cache), "quick")
    program = source.replace("LABELS", repr(str(bench / "labels.npz")))
    result = evaluate(config(cache, "task.timeout_s=10"), program, stage)
    assert not result.success, result.feedback
    if words:
        assert words in result.feedback, result.feedback
    if error_class:
        assert result.error_class == error_class, (result.error_class, result.feedback)


def test_a_constant_model_is_at_chance_and_stopped_by_the_quick_gate(cache: Path) -> None:
    cfg = config(cache, "task.quick.threshold=0.55")
    quick = evaluate(cfg, CONSTANT, "quick")
    assert quick.success and quick.metrics["score"] == 0.5
    assert "same probability for every pair" in quick.feedback
    limits = task_limits(cfg, task_spec(cfg))
    result = evaluate_program(cfg, CONSTANT, limits)
    assert not result.success and result.error_class == "cascade"
    assert "below its threshold 0.55" in result.feedback
    assert [s["stage"] for s in result.stages] == ["contract", "quick"]


@pytest.mark.slow
def test_the_task_contract_holds_with_ucb1(task_contract: Any, cache: Path, tmp_path: Path) -> None:
    """The project's contract kit: every seed through the cascade, the kit's bad candidates,
    the descriptors in range, a 4-evaluation offline run, here with ``sampler=ucb1``."""
    results = task_contract("biomed", *TINY, f"task.cache_dir={cache}", "sampler=ucb1")
    found = {name: result.metrics for name, result in results.items()}
    assert found["drugban"]["uses_attention"] == 1.0
    assert found["drug_only"]["uses_attention"] == found["prot_only"]["uses_attention"] == 0.0
    assert found["drugban"]["params"] > found["drug_only"]["params"]
    with sqlite3.connect(tmp_path / "contract-run" / "harness.db") as db:
        score, metrics = db.execute("select score, metrics from nodes where id = 0").fetchone()
    assert score == pytest.approx(json.loads(metrics)["score"], abs=1e-5)
    assert json.loads(metrics)["random_val_auroc"] > 0.5


def test_the_full_stage_scores_validation_and_reports_test_per_split(cache: Path) -> None:
    result = evaluate(config(cache, "task.seeds=[0,1]"), DRUGBAN, "full")
    assert result.success, result.feedback
    m = result.metrics
    assert set(result.samples) == {0, 1}
    weights = {"random": 0.4, "unseen_drug": 0.4, "unseen_protein": 0.2}
    for seed in (0, 1):
        assert 0.3 < result.samples[seed] < 1
    # the score recomputed from the stored per-split validation means
    expected = sum(w * (0.75 * m[f"{s}_val_auroc"] + 0.25 * m[f"{s}_val_auprc"])
                   for s, w in weights.items())  # fmt: skip
    assert m["score"] == pytest.approx(expected, abs=1e-5)
    for split in weights:
        for part in ("val", "test"):
            for metric in ("auroc", "auprc", "f1", "mcc"):
                assert f"{split}_{part}_{metric}" in m
        assert f"{split} (weight" in result.feedback
    for descriptor in TASK.spec(config(cache)).descriptors:
        assert descriptor.low <= m[descriptor.name] <= descriptor.high, descriptor.name
    assert 0 < m["interaction_share"] < 1


@pytest.mark.isolation
@needs_dti
def test_a_users_csv_folder_is_the_benchmark_and_is_hidden_from_the_child(cache: Path) -> None:
    folder = DTI / "bindingdb_sample"
    peek = f"open({str(folder / 'test.csv')!r}).read()\n" + DRUGBAN
    cfg = config(cache, f"task.data.path={folder}")
    result = evaluate(cfg, peek, "full")
    assert not result.success and "No such file" in result.feedback, result.feedback
    result = evaluate(cfg, DRUGBAN, "full")
    assert result.success, result.feedback
    assert "bindingdb_sample (weight 1.00)" in result.feedback
    assert 0 <= result.metrics["bindingdb_sample_test_auroc"] <= 1


@pytest.mark.slow
def test_a_tiny_evaluation_prints_every_metric_of_every_split(tmp_path: Path) -> None:
    harness = Path(sys.executable).with_name("harness")
    seed = Path(sys.modules[TASK.__module__].__file__).parent / "seeds" / "drugban.py"
    proc = subprocess.run(
        [str(harness), "eval", "+task=biomed", "--program", str(seed), *TINY,
         f"task.cache_dir={tmp_path / 'cache'}"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0].split() == ["success", "True"], proc.stdout
    for split in ("random", "unseen_drug", "unseen_protein"):
        for metric in ("auroc", "auprc", "f1", "mcc"):
            assert f"\n{split}_test_{metric}" in proc.stdout, (split, metric, proc.stdout)
    assert "val AUROC" in proc.stdout and "test AUROC" in proc.stdout
