"""The contract kit (``task_contract``): it passes on real task plugins, composed from their
own YAML, and fails with a message naming the fix on deliberately broken tasks."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import pytest
from helpers import registered

from harness import Descriptor, EvalResult, Task, TaskSpec, hookimpl, run_candidate
from harness import db as store
from harness.task import finite
from harness.testing.contract import RUN_EVALUATIONS


def test_the_kit_passes_on_circle_packing_from_its_own_yaml(task_contract):
    results = task_contract("circle_packing")
    assert set(results) == {"naive", "strong"}
    assert all(r.success and math.isfinite(r.score) for r in results.values())
    assert results["strong"].score > results["naive"].score


def test_the_kit_passes_on_the_toy_plugin_with_its_deliberately_broken_seeds(
    task_contract, tmp_path
):
    results = task_contract("toy", "task.timeout_s=3", failing_seeds=("broken", "sleeper"))
    assert results["seed"].score == pytest.approx(1.5)
    assert not results["broken"].success and results["sleeper"].error_class == "timeout"
    summary = store.summary(store.open_db(tmp_path / "contract-run", migrate=False))
    assert summary["task"] == "toy" and summary["evaluated"] == RUN_EVALUATIONS


class _Case(Task):
    """A task in the shape of the toy's whose defects the tests choose one at a time."""

    name = "kitcase"

    def __init__(
        self,
        seed: str = "def f():\n    return 0.5\n",
        high: float = 1.0,
        raise_on_failure: bool = False,
    ) -> None:
        self.seed_source, self.high, self.raise_on_failure = seed, high, raise_on_failure

    def spec(self, config: dict[str, Any]) -> TaskSpec:
        return TaskSpec(
            name="kitcase",
            description="d",
            entry="f",
            seeds=("start",),
            descriptors=(Descriptor("value", 0.0, self.high),),
            timeout_s=10,
        )

    def seed(self, config: dict[str, Any], name: str) -> str | None:
        return self.seed_source if name == "start" else None

    def evaluate(self, config, program, workdir, limits, stage) -> EvalResult:
        run = run_candidate(program, "f", limits=limits, workdir=workdir)
        if not run.ok and self.raise_on_failure:
            raise RuntimeError("the candidate failed")
        if not run.ok:
            return EvalResult(success=False, feedback=run.feedback(), error_class=run.error_class)
        if finite(run.value) is None:
            return EvalResult(success=False, feedback=f"f() returned {run.value!r}")
        return EvalResult(success=True, metrics={"score": run.value, "value": run.value})


class _Holder:
    def __init__(self, task: Task) -> None:
        self.task = task

    @hookimpl
    def harness_register_tasks(self, register: Callable[[Task], None]) -> None:
        register(self.task)


@pytest.fixture
def case(tmp_path, monkeypatch) -> Callable[[Task], contextlib.AbstractContextManager[None]]:
    """Registers a :class:`_Case` and puts its YAML in the user's config directory."""
    conf = tmp_path / "conf" / "task"
    conf.mkdir(parents=True)
    (conf / "kitcase.yaml").write_text(
        "# @package task\ndefaults:\n  - /harness_schema/task/kitcase@_here_\n  - _self_\n"
        "name: kitcase\n"
    )
    monkeypatch.setenv("HARNESS_CONF_DIR", str(tmp_path / "conf"))

    def register(task: Task) -> contextlib.AbstractContextManager[None]:
        return registered(_Holder(task), name="kitcase")

    return register


def test_a_failing_seed_fails_the_kit(case, task_contract):
    with case(_Case(seed="def f():\n    return 1 / 0\n")):
        with pytest.raises(AssertionError, match="the seed 'start' failed its evaluation") as exc:
            task_contract("kitcase")
    assert "ZeroDivisionError" in str(exc.value) and "Fix the seed program" in str(exc.value)


def test_an_evaluator_that_raises_for_a_broken_program_fails_the_kit(case, task_contract):
    with case(_Case(raise_on_failure=True)):
        with pytest.raises(
            AssertionError, match="evaluate\\(\\) raised for a program that raises"
        ) as exc:
            task_contract("kitcase")
    assert "run_candidate" in str(exc.value) and "success=False" in str(exc.value)


def test_a_descriptor_out_of_range_fails_the_kit(case, task_contract):
    with case(_Case(seed="def f():\n    return 5.0\n")):
        with pytest.raises(AssertionError, match=r"value=5, outside the descriptor's \[0, 1\]"):
            task_contract("kitcase")


def test_a_task_without_yaml_fails_the_kit_naming_the_file(task_contract):
    with pytest.raises(AssertionError, match="must ship conf/task/nosuch.yaml as package data"):
        task_contract("nosuch")
