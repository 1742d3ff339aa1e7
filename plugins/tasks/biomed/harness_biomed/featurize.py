"""Molecular graphs and residue ids: what the trainer feeds a candidate model.

Featurisation is trusted and runs in the evaluator, once per benchmark (cached): the
sandboxed trainer gets plain arrays, so it needs neither rdkit nor the SMILES, and a
candidate cannot change how a molecule is read. DrugBAN's atom features (dgllife's
CanonicalAtomFeaturizer) are the model for these: element, degree, charge, hydrogens,
hybridisation, aromaticity, ring membership.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ELEMENTS = ("C", "N", "O", "S", "F", "Cl", "Br", "I", "P", "B", "Si")
DEGREES = 6
CHARGES = (-1, 0, 1)
HYDROGENS = 5
HYBRIDISATIONS = ("SP", "SP2", "SP3", "SP3D", "SP3D2")
#: element (+ other), degree, formal charge, attached hydrogens, hybridisation, aromatic, ring
ATOM_DIM = len(ELEMENTS) + 1 + DEGREES + len(CHARGES) + HYDROGENS + len(HYBRIDISATIONS) + 2
BOND_TYPES = ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")
#: bond type, conjugated, in a ring
BOND_DIM = len(BOND_TYPES) + 2
#: The 20 standard residues, then B, Z, X, U, O; 0 is padding.
RESIDUES = "ACDEFGHIKLMNPQRSTVWYBZXUO"
PROTEIN_VOCAB = len(RESIDUES) + 1
_RESIDUE_ID = {residue: i + 1 for i, residue in enumerate(RESIDUES)}
_UNKNOWN = _RESIDUE_ID["X"]


def _one_hot(value: Any, choices: tuple[Any, ...] | range, other: bool = False) -> list[float]:
    hot = [float(value == choice) for choice in choices]
    if other:
        hot.append(float(not any(hot)))
    return hot


def atom_features(atom: Any) -> list[float]:
    """One atom's feature vector (``ATOM_DIM`` values)."""
    return [
        *_one_hot(atom.GetSymbol(), ELEMENTS, other=True),
        *_one_hot(min(atom.GetDegree(), DEGREES - 1), range(DEGREES)),
        *_one_hot(max(-1, min(1, atom.GetFormalCharge())), CHARGES),
        *_one_hot(min(atom.GetTotalNumHs(), HYDROGENS - 1), range(HYDROGENS)),
        *_one_hot(str(atom.GetHybridization()), HYBRIDISATIONS),
        float(atom.GetIsAromatic()),
        float(atom.IsInRing()),
    ]


def bond_features(bond: Any) -> list[float]:
    """One bond's feature vector (``BOND_DIM`` values)."""
    return [
        *_one_hot(str(bond.GetBondType()), BOND_TYPES),
        float(bond.GetIsConjugated()),
        float(bond.IsInRing()),
    ]


def molecules(smiles: list[str]) -> dict[str, np.ndarray]:
    """All molecules as one packed graph: ``atom_x`` [N, ATOM_DIM], ``edge_index`` [2, E]
    (each bond both ways, atom ids local to their molecule), ``edge_attr`` [E, BOND_DIM], and
    ``atom_ptr`` / ``edge_ptr`` [M + 1], where molecule ``m``'s atoms and edges start."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    atoms: list[list[float]] = []
    edges: list[tuple[int, int]] = []
    attrs: list[list[float]] = []
    atom_ptr, edge_ptr = [0], [0]
    for i, text in enumerate(smiles):
        mol = Chem.MolFromSmiles(text)
        if mol is None or mol.GetNumAtoms() == 0:
            raise ValueError(f"drug {i}: rdkit cannot parse SMILES {text[:80]!r}")
        atoms.extend(atom_features(atom) for atom in mol.GetAtoms())
        for bond in mol.GetBonds():
            a, b, feats = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), bond_features(bond)
            edges.extend([(a, b), (b, a)])
            attrs.extend([feats, feats])
        atom_ptr.append(len(atoms))
        edge_ptr.append(len(edges))
    return {
        "atom_x": np.asarray(atoms, dtype=np.float32).reshape(-1, ATOM_DIM),
        "edge_index": np.asarray(edges, dtype=np.int64).reshape(-1, 2).T.copy(),
        "edge_attr": np.asarray(attrs, dtype=np.float32).reshape(-1, BOND_DIM),
        "atom_ptr": np.asarray(atom_ptr, dtype=np.int64),
        "edge_ptr": np.asarray(edge_ptr, dtype=np.int64),
    }


def proteins(sequences: list[str], max_len: int) -> dict[str, np.ndarray]:
    """Residue ids, each sequence cut to ``max_len`` (DrugBAN's cap is 1,200) and padded
    with 0 to the longest kept: ``protein_tokens`` [P, L] and ``protein_len`` [P]."""
    lengths = [min(len(seq), max_len) for seq in sequences]
    tokens = np.zeros((len(sequences), max(lengths, default=1)), dtype=np.int64)
    for i, seq in enumerate(sequences):
        tokens[i, : lengths[i]] = [_RESIDUE_ID.get(r, _UNKNOWN) for r in seq[: lengths[i]].upper()]
    return {"protein_tokens": tokens, "protein_len": np.asarray(lengths, dtype=np.int64)}


def spec(max_len: int) -> dict[str, int]:
    """What ``build_model`` is told about its inputs."""
    return {
        "atom_dim": ATOM_DIM,
        "bond_dim": BOND_DIM,
        "protein_vocab": PROTEIN_VOCAB,
        "max_protein_len": max_len,
    }
