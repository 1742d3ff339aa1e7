"""The schema of the ``data_curation`` config group: its keys and their types.

The values live in ``conf/task/data_curation.yaml`` and its ``scale`` group (``???`` here:
every scale sets it); a key not declared here fails at composition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.driver_task import DriverTaskConf
from harness.task import MISSING


@dataclass
class CorpusConf:
    """The synthetic corpus (clean Wikipedia summaries, injected damage, junk documents)."""

    seed: int = 0
    #: Clean documents held out for bits-per-byte and the benchmark items.
    heldout: int = 400
    min_chars: int = 150
    #: A subsample of the clean base (``None``: all of it); junk is scaled alike. For tests.
    clean_docs: int | None = None
    vocab_size: int = 4096
    order_items: int = 384
    cloze_items: int = 387


@dataclass
class DataConf:
    """A user's own corpus instead of the synthetic one: local JSONL/parquet or a hub name."""

    #: Raw documents with ``text`` and ``category`` columns (``None``: the synthetic corpus).
    raw: str | None = None
    #: Clean held-out text (a ``text`` column) that bits-per-byte and the items are built on.
    heldout: str | None = None


@dataclass
class SampleConf:
    """Stage 1: the candidate on a fixed sample of raw documents."""

    docs: int = 500
    #: Documents shown once under each category, to count distinct per-category strategies.
    probe_docs: int = 48


@dataclass
class ModelConf:
    """The Llama trained on the curated text (``transformers`` LlamaForCausalLM, tied)."""

    layers: int = MISSING
    hidden: int = MISSING
    heads: int = MISSING
    mlp: int = MISSING


@dataclass
class TrainConf:
    """The fixed training budget: every candidate gets the same tokens, order and steps."""

    steps: int = MISSING
    batch_size: int = MISSING
    seq_len: int = MISSING
    lr: float = MISSING
    warmup_fraction: float = 0.05
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    #: The curated documents are shuffled by this seed alone (not the model seed): the
    #: order is the same for every training seed, so seeds vary only the initialisation.
    order_seed: int = 0


@dataclass
class BenchmarksConf:
    """lm-eval ``multiple_choice`` tasks, one per ``simple_evaluate`` call."""

    #: Items built from held-out text (``dc_order``, ``dc_cloze``), as local YAML tasks.
    local: list[str] = field(default_factory=lambda: ["dc_order", "dc_cloze"])
    #: lm-eval tasks by name (the gpu scale: hellaswag, arc_easy...); need their datasets.
    named: list[str] = field(default_factory=list)
    batch_size: int = 64
    max_length: int = 256
    #: A cap on items per task (``None``: all).
    limit: int | None = None


@dataclass
class ScoreConf:
    """The per-seed score: the label quality, bits per byte and accuracy gained over raw."""

    #: Weight of the mean benchmark accuracy gained over the raw corpus.
    accuracy_weight: float = 0.25
    #: Weight of the hidden-label quality gained over the raw corpus (synthetic corpus only).
    label_weight: float = 1.0


@dataclass
class OutputConf:
    """What a curation may return; beyond these it fails as ``invalid``."""

    #: A rewritten text may be at most this many times its raw text (plus 200 characters).
    max_growth: float = 1.5


@dataclass
class JudgeConf:
    """The paper's LLM judge: rate (original, cleaned) pairs 1-10; off unless a model is set."""

    model: str | None = None
    base_url: str | None = None
    #: The environment variable that holds the key (never the key itself).
    api_key_env: str = "OPENAI_API_KEY"
    pairs: int = 8
    timeout_s: float = 60.0


@dataclass
class DataCurationConf(DriverTaskConf):
    """``task.*`` of ``+task=data_curation``."""

    #: Training children of one evaluation run at once (keep workers x jobs x threads <= cores).
    jobs: int = 2
    corpus: CorpusConf = field(default_factory=CorpusConf)
    data: DataConf = field(default_factory=DataConf)
    sample: SampleConf = field(default_factory=SampleConf)
    model: ModelConf = field(default_factory=ModelConf)
    train: TrainConf = field(default_factory=TrainConf)
    benchmarks: BenchmarksConf = field(default_factory=BenchmarksConf)
    score: ScoreConf = field(default_factory=ScoreConf)
    output: OutputConf = field(default_factory=OutputConf)
    judge: JudgeConf = field(default_factory=JudgeConf)
