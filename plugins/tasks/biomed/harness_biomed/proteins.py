"""Synthetic protein families with planted, degenerate pocket motifs (domain-data 1.4).

Each family descends from one random ancestor; members differ by substitutions and indels,
so sequence similarity says which family a protein is in, while the motifs (kept intact
through mutation) are what the planted interaction rule reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
# Natural amino-acid frequencies (UniProtKB/Swiss-Prot, percent), in AMINO_ACIDS order.
_FREQ = np.array(
    [8.25, 1.37, 5.45, 6.75, 3.86, 7.07, 2.27, 5.96, 5.84, 9.66,
     2.42, 4.06, 4.70, 3.93, 5.53, 6.56, 5.34, 6.87, 1.08, 2.92],
)  # fmt: skip
FREQ = _FREQ / _FREQ.sum()

N_MOTIFS = 8
MOTIF_LEN = 7
#: Domain-length sequences (the design's 250-600 cost 2.3x the training time for no gain in
#: what the rule tests: README, "Choosing the benchmark").
MIN_LEN, MAX_LEN = 100, 200
MIN_SUB, MAX_SUB = 0.10, 0.40
SWAP_RATE = 0.30
MAX_INDELS = 3
MAX_INDEL_LEN = 4


@dataclass
class ProteinSet:
    """Sequences with their family id, the motif types each carries, and the motif grammar."""

    sequences: list[str]
    families: np.ndarray  # int64 [n]
    motifs: list[tuple[int, ...]]  # motif type ids per protein, sorted
    motif_residues: list[list[str]]  # per motif type, per position: the allowed residues


def _residues(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(len(AMINO_ACIDS), size=n, p=FREQ)


def motif_grammar(rng: np.random.Generator) -> list[list[str]]:
    """8 degenerate 7-residue motifs: 1-2 allowed residues per position."""
    grammar = []
    for _ in range(N_MOTIFS):
        positions = []
        for _ in range(MOTIF_LEN):
            k = int(rng.integers(1, 3))
            picks = rng.choice(len(AMINO_ACIDS), size=k, replace=False)
            positions.append("".join(sorted(AMINO_ACIDS[i] for i in picks)))
        grammar.append(positions)
    return grammar


def _motif_instance(rng: np.random.Generator, positions: list[str]) -> str:
    return "".join(allowed[int(rng.integers(len(allowed)))] for allowed in positions)


def _mutate(rng: np.random.Generator, segment: np.ndarray, rate: float) -> np.ndarray:
    out = segment.copy()
    hit = rng.random(len(out)) < rate
    out[hit] = _residues(rng, int(hit.sum()))
    return out


def _indel(rng: np.random.Generator, segment: np.ndarray) -> np.ndarray:
    """One insertion or deletion of 1-4 residues at a random place in the segment."""
    size = int(rng.integers(1, MAX_INDEL_LEN + 1))
    at = int(rng.integers(0, len(segment) + 1))
    if rng.random() < 0.5 or len(segment) <= size:
        return np.concatenate([segment[:at], _residues(rng, size), segment[at:]])
    at = min(at, len(segment) - size)
    return np.concatenate([segment[:at], segment[at + size :]])


def _split_points(rng: np.random.Generator, length: int, n_motifs: int) -> list[int]:
    """Sorted insertion points for the motifs, at least a motif length apart."""
    while True:
        points = sorted(int(p) for p in rng.integers(0, length + 1, size=n_motifs))
        if all(b - a >= MOTIF_LEN for a, b in zip(points, points[1:], strict=False)):
            return points


def _member(
    rng: np.random.Generator,
    background: list[np.ndarray],
    types: list[int],
    grammar: list[list[str]],
) -> str:
    """Mutated background segments interleaved with fresh instances of the motifs."""
    rate = float(rng.uniform(MIN_SUB, MAX_SUB))
    segments = [_mutate(rng, seg, rate) for seg in background]
    for _ in range(int(rng.integers(1, MAX_INDELS + 1))):
        i = int(rng.integers(len(segments)))
        segments[i] = _indel(rng, segments[i])
    parts = ["".join(AMINO_ACIDS[j] for j in segments[0])]
    for t, seg in zip(types, segments[1:], strict=True):
        parts.append(_motif_instance(rng, grammar[t]))
        parts.append("".join(AMINO_ACIDS[j] for j in seg))
    return "".join(parts)


def _member_types(rng: np.random.Generator, family_types: list[int]) -> list[int]:
    """The family's motif types, with one swapped for an absent type in 30 % of members."""
    types = list(family_types)
    if rng.random() < SWAP_RATE:
        absent = [t for t in range(N_MOTIFS) if t not in types]
        types[int(rng.integers(len(types)))] = int(rng.choice(absent))
    return types


def generate_families(rng: np.random.Generator, n_families: int, members: int = 5) -> ProteinSet:
    """n_families x members sequences; family f holds proteins f*members .. f*members+members-1."""
    grammar = motif_grammar(rng)
    sequences: list[str] = []
    families: list[int] = []
    motifs: list[tuple[int, ...]] = []
    for fam in range(n_families):
        n_types = int(rng.integers(1, 3))
        family_types = sorted(int(t) for t in rng.choice(N_MOTIFS, size=n_types, replace=False))
        length = int(rng.integers(MIN_LEN, MAX_LEN + 1)) - MOTIF_LEN * n_types
        ancestor = _residues(rng, length)
        points = _split_points(rng, length, len(family_types))
        background = np.split(ancestor, points)
        for _ in range(members):
            types = _member_types(rng, family_types)
            sequences.append(_member(rng, background, types, grammar))
            families.append(fam)
            motifs.append(tuple(sorted(types)))
    return ProteinSet(sequences, np.asarray(families, dtype=np.int64), motifs, grammar)
