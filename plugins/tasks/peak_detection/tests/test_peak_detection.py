"""Tests for the peak-detection task: the F1 scorer, the directory seed and its policies,
the sandboxed evaluation of trees, the plugin contract and `harness eval` of a directory."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from harness.sandbox import Limits
from harness.task import EvalResult
from harness.testing.contract import check_task
from harness.tree import Tree, is_tree, policy_of

from harness_peak_detection import plugin
from harness_peak_detection.signals import LENGTH, TOLERANCE, check_output, count, dataset

TASK = plugin.PeakDetection()
CONFIG: dict[str, Any] = {"name": "peak_detection", "signals": 40}
SEED_DIR = Path(str(files("harness_peak_detection") / "seeds" / "baseline"))
HARNESS = Path(sys.executable).with_name("harness")
#: Constants a person picked by hand (a small grid search): what evolution should approach.
TUNED = {
    "features.py": ("WINDOW = 8.0", "WINDOW = 15.0"),
    "smooth.py": ("SIGMA = 0.8", "SIGMA = 2.5"),
    "detect.py": ("MIN_DISTANCE = 2.0", "MIN_DISTANCE = 10.0"),
}


def seed_tree() -> Tree:
    program = TASK.seed(CONFIG, "baseline")
    assert program is not None and is_tree(program)
    return Tree.parse(program)


def tuned(tree: Tree, changes: dict[str, tuple[str, str]] = TUNED) -> Tree:
    for path, (old, new) in changes.items():
        assert old in tree[path]
        tree = tree.with_file(path, tree[path].replace(old, new))
    return tree


def evaluate(program: str, tmp_path: Path) -> EvalResult:
    result = TASK.evaluate(CONFIG, program, tmp_path, Limits(timeout_s=30), None)
    result.score = TASK.score(CONFIG, result)
    return result


# ----------------------------------------------------------------------------------------
# The scorer and the dataset
# ----------------------------------------------------------------------------------------


def test_f1_counts_matches_one_to_one_within_the_tolerance() -> None:
    truth = [[50, 100], [30]]
    assert count(truth, [[50, 100], [30]]).f1 == 1.0
    assert count(truth, [[], []]).f1 == 0.0
    shifted = count(truth, [[50 + TOLERANCE, 100 - TOLERANCE - 1], [30]])
    assert (shifted.matched, shifted.spurious, shifted.missed) == (2, 1, 1)
    doubled = count(truth, [[49, 51, 100], [30, 30]])  # two hits on one peak: one is spurious
    assert (doubled.matched, doubled.spurious, doubled.missed) == (3, 2, 0)
    assert doubled.precision == 3 / 5 and doubled.recall == 1.0
    assert doubled.f1 == pytest.approx(2 * 0.6 / 1.6)


def test_dataset_is_fixed_and_its_peaks_are_where_the_signal_is_high() -> None:
    data = dataset(40)
    assert data is dataset(40) and data.signals[:5] == dataset(5).signals
    assert len(data.signals) == 40 and all(len(s) == LENGTH for s in data.signals)
    assert all(3 <= len(peaks) <= 7 for peaks in data.truth)
    first = data.signals[0]  # a peak stands above the signal's median
    median = sorted(first)[LENGTH // 2]
    assert all(max(first[p - 2 : p + 3]) > median for p in data.truth[0])


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("peaks", "one list of peak indices per signal (2), got str"),
        ([[1]], "got a list of 1"),
        ([[1], [LENGTH]], f"signal 1: {LENGTH} is not a sample index"),
        ([[1], [2.0]], "signal 1: 2.0 is not a sample index"),
        ([[1], [True]], "signal 1: True is not a sample index"),
        ([[1], 3], "signal 1: expected a list of indices, got int"),
    ],
)
def test_malformed_outputs_are_named(value: Any, problem: str) -> None:
    assert problem in (check_output(value, 2) or "")
    assert check_output([[0], [LENGTH - 1]], 2) is None


# ----------------------------------------------------------------------------------------
# The directory seed, its policies and its evaluation
# ----------------------------------------------------------------------------------------


def test_the_seed_is_a_directory_with_each_policy() -> None:
    tree = seed_tree()
    assert list(tree) == ["detect.py", "features.py", "pipeline.py", "smooth.py"]
    assert tree == Tree.read(SEED_DIR)
    rules = TASK.spec(CONFIG).files
    policies = {path: policy_of(path, rules) for path in tree}
    assert policies == {
        "detect.py": "evolve",
        "features.py": "blocks",
        "pipeline.py": "read_only",
        "smooth.py": "evolve",
    }
    assert "EVOLVE-BLOCK-START" in tree["features.py"]


def test_seed_scores_its_known_f1_and_hand_tuned_constants_do_better(tmp_path: Path) -> None:
    seed = evaluate(seed_tree().text(), tmp_path / "seed")
    assert seed.success, seed.feedback
    assert seed.score == pytest.approx(0.4215148188803512)  # 192 matched, 523 spurious, 4 missed
    assert (seed.metrics["matched"], seed.metrics["spurious"]) == (192, 523)
    better = evaluate(tuned(seed_tree()).text(), tmp_path / "tuned")
    assert better.success and better.score is not None and better.score > 0.9, better.feedback


def test_one_small_numeric_step_off_the_seed_already_helps(tmp_path: Path) -> None:
    """The offline proposer perturbs literals by about 10%: the seed sits on a slope."""
    step = tuned(seed_tree(), {"smooth.py": ("SIGMA = 0.8", "SIGMA = 0.88")})
    seed, stepped = (evaluate(t.text(), tmp_path / n) for t, n in ((seed_tree(), "a"), (step, "b")))
    assert stepped.score is not None and seed.score is not None and stepped.score > seed.score


def test_a_broken_module_fails_naming_its_file(tmp_path: Path) -> None:
    tree = seed_tree()
    broken = tree.with_file("smooth.py", tree["smooth.py"].replace("def smooth(", "def smooth(("))
    result = evaluate(broken.text(), tmp_path)
    assert not result.success and result.error_class == "syntax"
    assert 'File "smooth.py"' in result.feedback, result.feedback
    missing = evaluate(tree.with_file("pipeline.py", None).text(), tmp_path)
    assert missing.error_class == "missing_entry" and "pipeline.py" in missing.feedback


def test_a_wrong_output_is_invalid(tmp_path: Path) -> None:
    tree = seed_tree()
    lying = tree.with_file("detect.py", "def detect(values):\n    return [0.5]\n")
    result = evaluate(lying.text(), tmp_path)
    assert not result.success and result.error_class == "invalid"
    assert "signal 0: 0.5 is not a sample index" in result.feedback


# ----------------------------------------------------------------------------------------
# The contract, and `harness eval` of a directory
# ----------------------------------------------------------------------------------------


def test_contract(tmp_path: Path) -> None:
    results = check_task("peak_detection", tmp_path)
    assert results["baseline"].score == pytest.approx(0.4215148188803512)


def test_harness_eval_of_a_directory(tmp_path: Path) -> None:
    program = tmp_path / "better"
    shutil.copytree(SEED_DIR, program, ignore=shutil.ignore_patterns("__pycache__"))
    for path, (old, new) in TUNED.items():
        text = (program / path).read_text()
        (program / path).write_text(text.replace(old, new))
    done = subprocess.run(
        [str(HARNESS), "eval", "+task=peak_detection", "--program", str(program), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["success"] and payload["score"] > 0.9, payload


def test_an_offline_run_of_50_evaluations_improves_on_the_seed(tmp_path: Path) -> None:
    """The acceptance run: `llm=offline` mutates the numeric literals of the evolvable files
    (detect.py, smooth.py, and features.py's EVOLVE-BLOCK), never pipeline.py."""
    from harness import db as store

    run_dir = tmp_path / "run"
    done = subprocess.run(
        [str(HARNESS), "run", "+task=peak_detection", "run.max_evaluations=50",
         f"hydra.run.dir={run_dir}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    status = subprocess.run(
        [str(HARNESS), "status", str(run_dir), "--json"], capture_output=True, text=True
    )
    summary = json.loads(status.stdout)
    assert summary["evaluated"] == 50
    assert summary["seed_score"] == pytest.approx(0.4215148188803512)
    assert summary["best_score"] > summary["seed_score"] + 0.2, summary
    db = store.open_db(run_dir)
    seed = seed_tree()
    for node, program in store.node_programs(db, "id > 0"):
        child = Tree.parse(program)
        assert child["pipeline.py"] == seed["pipeline.py"], node
        outside = child["features.py"].split("# EVOLVE-BLOCK-END")[1]
        assert outside == seed["features.py"].split("# EVOLVE-BLOCK-END")[1], node
