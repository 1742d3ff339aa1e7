"""In-memory DTI benchmark: shared drug/protein lists plus index-triple splits.

Pairs are stored as indices into one shared drug and protein list so that the trainer can
featurize each molecule and sequence once, whatever the number of pairs that use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported where it is used, not when the plugin loads
    import numpy as np


PARTS = ("train", "val", "test")


@dataclass
class Split:
    """One split; each part is an int64 array [n, 3] of (drug index, protein index, label)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def part(self, name: str) -> np.ndarray:
        """The array of one part by name, so callers can loop over PARTS."""
        if name not in PARTS:
            raise KeyError(f"unknown split part {name!r}; expected one of {PARTS}")
        return getattr(self, name)


@dataclass
class Benchmark:
    """Drugs (SMILES), proteins (sequences) and named splits over them."""

    name: str
    drugs: list[str]
    proteins: list[str]
    splits: dict[str, Split]
    drug_groups: np.ndarray | None = None
    protein_groups: np.ndarray | None = None


def pairs_array(rows: Any) -> np.ndarray:
    """Rows of (drug, protein, label) as the canonical int64 [n, 3] array (also when empty)."""
    import numpy as np

    return np.asarray(rows, dtype=np.int64).reshape(-1, 3)
