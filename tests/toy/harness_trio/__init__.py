"""A three-file task plugin for the multi-file edit tests, loaded with
``HARNESS_PLUGINS=harness_toy,harness_trio``.

Task ``trio``: a package whose ``WIDTH`` (``pkg/model.py``, evolvable) and ``LR``
(``pkg/train.py``, only inside its EVOLVE-BLOCK) must approach 8 and 0.5 together;
``pkg/data.py`` is read-only context. The evaluator reads the constants with ``ast``
(nothing of the candidate runs), so the test exercises edits and storage, not the sandbox.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import EvalResult, Limits, Task, TaskSpec, hookimpl
from harness.tree import FileRule, Tree

SEED = Tree.of(
    {
        "pkg/model.py": "WIDTH = 4\n\n\ndef forward(x):\n    return x * WIDTH\n",
        "pkg/train.py": (
            "from pkg import model\n\n# EVOLVE-BLOCK-START\nLR = 0.1\n# EVOLVE-BLOCK-END\n\n\n"
            "def step(x):\n    return model.forward(x) * LR\n"
        ),
        "pkg/data.py": "SAMPLES = (1.0, 2.0, 3.0)\n",
    }
)


def _constant(source: str, name: str) -> float:
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return float(ast.literal_eval(node.value))
    raise ValueError(f"{name} is not assigned a constant")


class Trio(Task):
    name = "trio"

    def spec(self, config: dict[str, Any]) -> TaskSpec:
        return TaskSpec(
            name="trio",
            description="Tune WIDTH and LR so that the package's step cooperates.",
            entry="step",
            seeds=("trio",),
            files=(FileRule("pkg/data.py", "read_only"), FileRule("pkg/train.py", "blocks")),
            timeout_s=10,
        )

    def seed(self, config: dict[str, Any], name: str) -> str | None:
        return SEED.text() if name == "trio" else None

    def evaluate(
        self, config: dict[str, Any], program: str, workdir: Path, limits: Limits, stage: str | None
    ) -> EvalResult:
        tree = Tree.parse(program)
        try:
            width = _constant(tree["pkg/model.py"], "WIDTH")
            lr = _constant(tree["pkg/train.py"], "LR")
        except (KeyError, ValueError, SyntaxError) as exc:
            return EvalResult(success=False, feedback=str(exc), error_class="invalid")
        score = -abs(width - 8.0) - 10 * abs(lr - 0.5)
        return EvalResult(success=True, metrics={"score": score, "width": width, "lr": lr})


@hookimpl
def harness_register_tasks(register: Callable[[Task], None]) -> None:
    register(Trio())
