"""The schema of the ``arch_linear_attn`` config group: its keys and their types.

The values live in ``conf/task/arch_linear_attn.yaml`` and its ``scale`` group (``???``
here: the YAML sets it); a key that is not declared here fails at composition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.driver_task import DriverTaskConf
from harness.task import MISSING


@dataclass
class ProxyConf:
    """The proxy language model, its training and its generated data (set by the scale)."""

    num_layers: int = MISSING
    steps: int = MISSING
    batch_size: int = MISSING
    seq_len: int = MISSING
    lr: float = MISSING
    warmup_steps: int = MISSING
    lm_vocab: int = MISSING
    words: int = MISSING
    train_tokens: int = MISSING
    eval_lengths: list[int] = MISSING
    eval_rows_per_length: int = MISSING
    data_seed: int = MISSING
    mqar_keys: int = MISSING
    mqar_pairs: int = MISSING
    mqar_min_pairs: int = MISSING
    mqar_queries: int = MISSING
    mqar_batch_size: int = MISSING
    mqar_eval_examples: int = MISSING


@dataclass
class DataConf:
    """The proxy's text: ``synthetic``, or a ``datasets`` corpus (corpus.py)."""

    source: str = MISSING
    path: str | None = None
    name: str | None = None
    data_files: Any = None
    split: str = MISSING
    streaming: bool = MISSING
    text_field: str = MISSING
    tokenizer: str = MISSING
    train_tokens: int = MISSING
    valid_tokens: int = MISSING


@dataclass
class ZeroShotConf:
    """lm-eval benchmarks of the first seed's model (zero_shot.py)."""

    tasks: list[str] = MISSING
    limit: int | None = None
    include_path: str | None = None


@dataclass
class SanityConf:
    """Stage 1's checks: causality tolerance and the cost growth allowed."""

    seq_len: int = MISSING
    tol: float = MISSING
    cost_seq_len: int = MISSING
    max_flop_exponent: float = MISSING
    max_time_exponent: float = MISSING
    time_repeats: int = MISSING


@dataclass
class ArchConf(DriverTaskConf):
    """``task.*`` of ``+task=arch_linear_attn``."""

    recall_weight: float = MISSING
    eval_seed: int = MISSING
    #: ``file``: the program is one file; ``tree``: a multi-file program (layer.py, ops.py,
    #: config.py), whose context files are ``read_only`` or ``evolve`` by ``context``.
    layout: str = MISSING
    context: str = MISSING
    mixer_options: dict[str, Any] = MISSING
    data: DataConf = field(default_factory=DataConf)
    zero_shot: ZeroShotConf = field(default_factory=ZeroShotConf)
    sanity: SanityConf = field(default_factory=SanityConf)
    hidden_size: int = MISSING
    num_heads: int = MISSING
    max_mixer_params: int = MISSING
    proxy: ProxyConf = field(default_factory=ProxyConf)
