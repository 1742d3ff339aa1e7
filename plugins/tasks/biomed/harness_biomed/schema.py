"""The schema of the ``biomed`` config group: its keys and their types.

The values live in ``conf/task/biomed.yaml`` and its ``scale`` group (``???`` here: every
scale sets it); a key not declared here fails at composition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.driver_task import DriverTaskConf
from harness.task import MISSING


@dataclass
class SyntheticConf:
    """The synthetic benchmark: a planted interaction rule on real molecules (README)."""

    #: The generator seed the search runs on. Evaluate the final program once on
    #: ``final_seed`` (another instance of the rule), never searched on.
    seed: int = 0
    final_seed: int = 1
    #: ``quick`` (300 drugs x 60 proteins) or ``full`` (1,200 x 200) for the full stage.
    size: str = "full"


@dataclass
class DataConf:
    """Your own DrugBAN-format CSV files instead of the synthetic benchmark."""

    #: A folder with train/val/test.csv (``SMILES,Protein,Y``), or one whose sub-folders each
    #: hold those (one split per sub-folder). ``None``: the synthetic benchmark.
    path: str | None = None


@dataclass
class TrainConf:
    """The trusted trainer's fixed budget: the same for every candidate."""

    epochs: int = MISSING
    batch_size: int = 64
    eval_batch_size: int = 256
    #: Each batch comes from a block of at most this many proteins (each encoded once).
    block_proteins: int = 16
    lr: float = MISSING
    weight_decay: float = 0.0
    #: Gradient-norm clip (0: none).
    grad_clip: float = 5.0


@dataclass
class QuickConf:
    """Stage 2: the quick synthetic set, one split, one seed: a cheap gate before the full."""

    split: str = "random"
    epochs: int = 3
    #: The stage's score is its validation AUROC; below this the cascade stops.
    threshold: float = 0.55


@dataclass
class ScoreConf:
    """A seed's fitness: sum over splits of weight x (auroc x AUROC + auprc x AUPRC), on
    validation pairs. Test metrics are reported, never scored."""

    splits: dict[str, float] = field(
        default_factory=lambda: {"random": 0.4, "unseen_drug": 0.4, "unseen_protein": 0.2}
    )
    auroc: float = 0.75
    auprc: float = 0.25


@dataclass
class BiomedConf(DriverTaskConf):
    """``task.*`` of ``+task=biomed``."""

    #: Training children of one evaluation run at once, one per seed (keep workers x jobs x
    #: threads <= cores).
    jobs: int = 2
    #: Residues kept per protein (DrugBAN: 1,200); longer sequences are cut.
    max_protein_len: int = MISSING
    #: The width the seed models read from their spec (``spec["width"]``; DrugBAN: 128).
    width: int = MISSING
    synthetic: SyntheticConf = field(default_factory=SyntheticConf)
    data: DataConf = field(default_factory=DataConf)
    train: TrainConf = field(default_factory=TrainConf)
    quick: QuickConf = field(default_factory=QuickConf)
    score: ScoreConf = field(default_factory=ScoreConf)
    #: Pairs of the tiny batch of stage 1.
    contract_pairs: int = 24
    #: Drugs (and half as many proteins) of the grid the interaction descriptor is read on.
    grid: int = 24
