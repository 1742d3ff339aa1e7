"""The schema of the ``rl_algo`` config group: its keys and their types.

The values live in ``conf/task/rl_algo.yaml`` and its ``scale`` group (``???`` here: every
scale sets it; ``None``: only one scale uses it); a key not declared here fails at
composition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.driver_task import DriverTaskConf
from harness.task import MISSING


@dataclass
class ProblemConf:
    """The verifiable task: ``chain`` or ``addition`` (cpu) or competition ``math`` (gpu)."""

    kind: str = MISSING
    min_operand: int | None = None
    max_operand: int | None = None
    #: Operands per ``chain`` problem (``addition`` always has two).
    min_terms: int | None = None
    max_terms: int | None = None
    #: The math prompt, with ``{question}``.
    template: str | None = None


@dataclass
class PolicyConf:
    """The tiny Llama of the CPU proxies (the math task's is the pretrained model)."""

    hidden_size: int | None = None
    intermediate_size: int | None = None
    num_layers: int | None = None
    num_heads: int | None = None


@dataclass
class WarmupConf:
    """Supervised steps from scratch to a CPU proxy's base policy."""

    steps: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    seed: int | None = None


@dataclass
class GrpoConf:
    """The GRPO budget, the same for every candidate."""

    steps: int = MISSING
    prompts_per_step: int = MISSING
    group_size: int = MISSING
    steps_per_generation: int = MISSING
    max_completion_length: int = MISSING
    temperature: float = MISSING
    lr: float = MISSING
    max_grad_norm: float = MISSING
    max_grad_norm_abort: float = MISSING
    activation_checkpointing: bool = False
    optim: str = "adamw_torch"


@dataclass
class EvalConf:
    """Held-out scoring; never sent to the training child."""

    max_new_tokens: int = MISSING
    batch_size: int = MISSING
    seed: int | None = None
    problems: int | None = None
    #: A cap on each math set (``None``: all of it).
    max_problems: int | None = None


@dataclass
class DatasetConf:
    """A hub dataset that ``scripts/prepare_gpu.py`` exports as question/answer rows."""

    path: str = MISSING
    split: str = MISSING
    question: str = MISSING
    answer: str = MISSING
    name: str | None = None


@dataclass
class RlConf(DriverTaskConf):
    """``task.*`` of ``+task=rl_algo``."""

    data_seed: int = MISSING
    task: ProblemConf = field(default_factory=ProblemConf)
    policy: PolicyConf = field(default_factory=PolicyConf)
    warmup: WarmupConf = field(default_factory=WarmupConf)
    grpo: GrpoConf = field(default_factory=GrpoConf)
    eval: EvalConf = field(default_factory=EvalConf)
    #: The math task's files, written by ``scripts/prepare_gpu.py``.
    data_dir: str | None = None
    model: str | None = None
    train_dataset: DatasetConf | None = None
    eval_sets: dict[str, DatasetConf] = field(default_factory=dict)
