"""Tests for the circle-packing task: the exact validator, the seeds and the sandboxed path."""

from __future__ import annotations

import json
import math
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from harness.sandbox import Limits
from harness.task import EvalResult

from harness_circle_packing import plugin
from harness_circle_packing.validator import validate_packing, validate_return

TWO = [(0.25, 0.5), (0.75, 0.5)]
SEEDS = ("naive", "strong")
TASK = plugin.CirclePacking()


def config(n: int = 26) -> dict[str, Any]:
    return {"name": "circle_packing", "n": n, "timeout_s": 60, "memory_mb": 2048}


def run_seed(name: str, n: int) -> tuple[Any, Any]:
    """Run a seed program in-process, as plain source text, like the sandbox does."""
    namespace: dict[str, Any] = {}
    exec(TASK.seed(config(n), name), namespace)
    return namespace["construct_packing"](n)


@pytest.fixture(scope="module")
def seed_packings() -> dict[tuple[str, int], Any]:
    """What each seed returns, run here once (the strong search takes seconds)."""
    return {(name, n): run_seed(name, n) for name in SEEDS for n in (26, 32)}


@pytest.fixture(scope="module")
def seed_sums(seed_packings) -> dict[tuple[str, int], float]:
    sums = {}
    for (name, n), packing in seed_packings.items():
        validation = validate_return(packing, n)
        assert validation.valid, (name, n, validation.message)
        sums[name, n] = validation.sum_radii
    return sums


def evaluate(program: str, tmp_path: Path, n: int = 26) -> EvalResult:
    cfg = config(n)
    result = TASK.evaluate(cfg, program, tmp_path, Limits(timeout_s=60), None)
    result.score = TASK.score(cfg, result)
    return result


# ----------------------------------------------------------------------------------------
# The exact validator
# ----------------------------------------------------------------------------------------


def test_touching_circles_are_valid() -> None:
    validation = validate_packing(TWO, [0.25, 0.25], 2)
    assert validation.valid, validation.message
    assert validation.sum_radii == 0.5
    assert validation.worst_violation == 0.0
    assert validation.min_slack == 0.0


def test_descriptors_count_distinct_radii_and_circles_on_the_boundary() -> None:
    centers = [(0.25, 0.25), (0.75, 0.25), (0.5, 0.7)]
    validation = validate_packing(centers, [0.25, 0.25, 0.1], 3)
    assert validation.valid, validation.message
    assert validation.num_distinct_radii == 2
    assert validation.boundary_fraction == pytest.approx(2 / 3)


def test_tiny_overlap_is_invalid_and_measured() -> None:
    validation = validate_packing([(0.25, 0.5), (0.75 - 1e-9, 0.5)], [0.25, 0.25], 2)
    assert not validation.valid
    assert validation.worst_violation == pytest.approx(1e-9, rel=1e-6)
    assert "circles 0 and 1 overlap by 1e-09" in validation.message


def test_shrunk_radii_make_it_valid_again() -> None:
    validation = validate_packing([(0.25, 0.5), (0.75 - 1e-9, 0.5)], [0.25 - 1e-9, 0.25], 2)
    assert validation.valid, validation.message
    assert validation.min_slack >= 0.0


def test_overlap_hidden_by_float_rounding_is_caught() -> None:
    # In floats 0.72 - 0.37 >= 0.1 + 0.25 holds; as exact binary fractions the circles
    # overlap by about 2.8e-17.
    centers, radii = [(0.37, 0.5), (0.72, 0.5)], [0.1, 0.25]
    assert math.dist(*centers) >= sum(radii)
    validation = validate_packing(centers, radii, 2)
    assert not validation.valid
    assert validation.worst_violation == pytest.approx(2.7755575615628914e-17, rel=1e-6)


def test_wall_crossing_hidden_by_float_rounding_is_caught() -> None:
    assert 0.55 + 0.45 <= 1.0  # but the exact sum of these doubles is 1 + 5.6e-17
    validation = validate_packing([(0.55, 0.5)], [0.45], 1)
    assert not validation.valid
    assert "right side" in validation.message


@pytest.mark.parametrize(
    ("center", "radius", "side"),
    [
        ((0.25, 0.5), 0.25 + 1e-12, "left"),
        ((0.75 + 1e-12, 0.5), 0.25, "right"),
        ((0.5, 0.25 - 1e-12), 0.25, "bottom"),
        ((0.5, 0.75 + 1e-12), 0.25, "top"),
    ],
)
def test_boundary_violations_of_1e12_are_invalid(center, radius, side) -> None:
    validation = validate_packing([center], [radius], 1)
    assert not validation.valid
    assert f"sticks out of the {side} side" in validation.message
    assert validation.worst_violation == pytest.approx(1e-12, rel=1e-3)


def test_negative_radius_is_invalid() -> None:
    validation = validate_packing(TWO, [0.25, -0.1], 2)
    assert not validation.valid
    assert "circle 1 has a negative radius" in validation.message


@pytest.mark.parametrize(
    ("centers", "radii", "expected"),
    [
        (TWO, [0.25, math.nan], "radii[1] is nan"),
        (TWO, [0.25, math.inf], "radii[1] is inf"),
        ([(0.25, math.nan), (0.75, 0.5)], [0.1, 0.1], "centers[0][1] is nan"),
        ([(0.25, 0.5, 0.0), (0.75, 0.5, 0.0)], [0.1, 0.1], "expected a pair [x, y]"),
        (TWO[:1], [0.1, 0.1], "centers has 1 entries, expected n = 2"),
        (TWO, [0.1], "radii has 1 entries, expected n = 2"),
        (TWO, [[0.1], [0.1]], "radii[0] is list"),
        (TWO, [True, 0.1], "radii[0] is bool"),
        (TWO, ["0.1", 0.1], "radii[0] is str"),
        (TWO, [None, 0.1], "radii[0] is NoneType"),
        (TWO, [0.1j, 0.1], "radii[0] is complex"),
        (TWO, [0.1, 10**400], "too large for a float"),
        (TWO, [0.1, 1e300], "far outside the unit square"),
        ("circles", [0.1, 0.1], "centers must be a sequence"),
        (TWO, {"r": 0.1}, "radii must be a sequence"),
    ],
)
def test_malformed_data_is_invalid_with_a_clear_message(centers, radii, expected) -> None:
    validation = validate_packing(centers, radii, 2)
    assert not validation.valid and not validation.parsed
    assert validation.message.startswith("malformed packing: ")
    assert expected in validation.message


@pytest.mark.parametrize(
    "value", [None, "packing", {"centers": TWO, "radii": [0.1, 0.1]}, [TWO], np.zeros(3)]
)
def test_return_value_must_be_a_pair(value) -> None:
    validation = validate_return(value, 2)
    assert not validation.valid
    assert "expected a tuple (centers, radii)" in validation.message


def test_extra_returned_values_are_ignored() -> None:
    validation = validate_return((TWO, [0.25, 0.25], 100.0, "anything"), 2)
    assert validation.valid
    assert validation.sum_radii == 0.5


def test_tight_strong_packing_is_valid_exactly() -> None:
    centers, radii = run_seed("strong", 32)
    validation = validate_packing(centers, radii, 32)
    assert validation.valid and validation.worst_violation == 0.0


# ----------------------------------------------------------------------------------------
# Seeds, run in-process
# ----------------------------------------------------------------------------------------


def test_naive_seed_scores_like_the_classic_layout(seed_sums) -> None:
    assert 0.9 < seed_sums["naive", 26] < 1.0


@pytest.mark.parametrize("n", [26, 32])
def test_strong_seed_beats_naive(seed_sums, n) -> None:
    assert seed_sums["strong", n] > seed_sums["naive", n] + 1.0
    assert seed_sums["strong", n] < plugin.BEST_KNOWN[n]


def test_seeds_mark_an_evolve_block() -> None:
    for name in SEEDS:
        program = TASK.seed(config(), name)
        assert program.index("EVOLVE-BLOCK-START") < program.index("EVOLVE-BLOCK-END")
        assert "def construct_packing(n=26):" in program


# ----------------------------------------------------------------------------------------
# The task object and its configuration
# ----------------------------------------------------------------------------------------


def test_registers_the_task() -> None:
    names: list[str] = []
    plugin.harness_register_tasks(register=lambda task: names.append(task.name))
    assert names == ["circle_packing", "circle_packing_c"]


@pytest.mark.parametrize(("n", "best"), [(26, 2.635983), (32, 2.939572)])
def test_task_spec(n, best) -> None:
    spec = TASK.spec({**config(n), "timeout_s": 45})
    assert (spec.name, spec.entry, spec.seeds) == ("circle_packing", "construct_packing", SEEDS)
    assert spec.best_known == best
    assert (spec.timeout_s, spec.memory_mb) == (45.0, 2048)
    assert f"Pack {n} circles" in spec.description
    assert str(best) in spec.description and "45 s" in spec.description
    assert 15 <= len(spec.cognition) <= 20
    assert all(item.source == "harness_circle_packing" for item in spec.cognition)
    assert [(d.name, d.low, d.high) for d in spec.descriptors] == [
        ("num_distinct_radii", 1, n),
        ("boundary_fraction", 0, 1),
    ]


@pytest.mark.parametrize("n", [25, 27, "26", True, None])
def test_unsupported_n_is_a_clear_error(n) -> None:
    with pytest.raises(ValueError, match="task.n must be 26 or 32"):
        TASK.spec({**config(), "n": n})


def test_unknown_seed_is_none() -> None:
    assert TASK.seed(config(), "nope") is None


def test_conf_yaml_ships_with_the_package() -> None:
    text = (files("harness_circle_packing.conf") / "task" / "circle_packing.yaml").read_text()
    assert text.startswith("# @package task\n")
    keys = [key for key in yaml.safe_load(text) if key != "defaults"]
    assert keys == ["name", "n", "seed_program", "timeout_s", "memory_mb"]


def test_score_only_for_valid_successes() -> None:
    good = EvalResult(success=True, metrics={"valid": 1, "sum_radii": 2.5})
    bad = EvalResult(success=False, metrics={"valid": 0, "sum_radii": 0.0})
    assert TASK.score(config(), good) == 2.5
    assert TASK.score(config(), bad) is None


# ----------------------------------------------------------------------------------------
# Through the sandbox
# ----------------------------------------------------------------------------------------


def brute_force_check(centers: np.ndarray, radii: np.ndarray, tol: float = 1e-12) -> None:
    """The packing constraints in plain floats, every pair by broadcasting: independent of
    the exact validator (a tolerance instead of fractions, no shared code)."""
    assert centers.shape == (len(radii), 2) and np.isfinite(centers).all()
    assert np.isfinite(radii).all() and (radii >= 0).all()
    assert (centers - radii[:, None] >= -tol).all(), "a circle crosses the left or bottom side"
    assert (centers + radii[:, None] <= 1 + tol).all(), "a circle crosses the right or top side"
    gaps = np.linalg.norm(centers[:, None] - centers[None, :], axis=-1) - (
        radii[:, None] + radii[None, :]
    )
    np.fill_diagonal(gaps, np.inf)
    assert gaps.min() >= -tol, f"circles overlap by {-gaps.min():.3g}"


@pytest.mark.isolation
@pytest.mark.parametrize(("name", "n"), [("naive", 26), ("strong", 32)])
def test_seed_evaluates_in_the_sandbox(tmp_path, seed_packings, name, n) -> None:
    program = TASK.seed(config(n), name)
    result = evaluate(program, tmp_path, n)
    assert result.success, result.feedback
    packing = json.loads(result.artifacts["packing.json"])  # what the sandboxed seed returned
    centers, radii = np.array(packing["centers"], float), np.array(packing["radii"], float)
    assert len(centers) == len(radii) == n
    brute_force_check(centers, radii)
    # The seed run here (deterministic, up to the last bits of BLAS) returns the same
    # packing; the score is its sum of radii, added up here, not by the validator.
    here_centers, here_radii = (np.asarray(a, float) for a in seed_packings[name, n][:2])
    assert np.allclose(here_centers, centers, rtol=0, atol=1e-12)
    assert np.allclose(here_radii, radii, rtol=0, atol=1e-12)
    assert result.score == result.metrics["sum_radii"] == pytest.approx(radii.sum(), rel=1e-12)
    assert result.metrics["valid"] == 1 and result.metrics["worst_violation"] == 0.0
    assert result.metrics["target_ratio"] == pytest.approx(radii.sum() / plugin.BEST_KNOWN[n])
    assert "valid packing" in result.feedback


@pytest.mark.isolation
def test_claimed_sum_is_ignored(tmp_path) -> None:
    program = """
def construct_packing(n):
    grid = [0.1, 0.3, 0.5, 0.7, 0.9]
    centers = [[x, y] for x in grid for y in grid] + [[0.0, 0.0]]
    return centers, [0.09] * 25 + [0.0], 100.0
"""
    result = evaluate(program, tmp_path)
    assert result.success, result.feedback
    assert result.score == pytest.approx(2.25)


def test_overlapping_packing_is_invalid(tmp_path) -> None:
    program = """
def construct_packing(n):
    return [[0.5, 0.5]] * n, [0.1] * n
"""
    result = evaluate(program, tmp_path)
    assert not result.success and result.error_class == "invalid"
    assert result.score is None
    assert result.metrics["worst_violation"] == pytest.approx(0.2)
    assert "overlap by 0.2" in result.feedback


def test_raising_candidate_fails_with_traceback(tmp_path) -> None:
    program = """
def construct_packing(n):
    return helper(n)

def helper(n):
    return n / 0
"""
    result = evaluate(program, tmp_path)
    assert not result.success and result.score is None
    assert result.error_class == "exception"
    assert "ZeroDivisionError" in result.feedback and "helper" in result.feedback
    assert "eval_seconds" in result.metrics


@pytest.mark.parametrize(
    "returned",
    ["{'centers': 1}", "'abc'", "None", "[[1, 2]]", "([[0.5, 0.5]] * n, [[0.1]] * n)"],
)
def test_garbage_return_is_invalid_not_a_crash(tmp_path, returned) -> None:
    result = evaluate(f"def construct_packing(n):\n    return {returned}\n", tmp_path)
    assert not result.success and result.error_class == "invalid"
    assert result.score is None
    assert "malformed packing" in result.feedback


def test_task_contract(task_contract) -> None:
    results = task_contract(config())
    assert set(results) == set(SEEDS)
