"""The biomed benchmark data: the synthetic generator (determinism, planted structure,
leak-free splits) and the DrugBAN CSV loader (shared files and its error messages)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from harness_biomed import csvdata, synthetic
from harness_biomed.benchmark import PARTS, Benchmark
from harness_biomed.molecules import FEATURES, is_drug_like, pharmacophores
from harness_biomed.proteins import (
    MAX_INDEL_LEN,
    MAX_INDELS,
    MAX_LEN,
    MIN_LEN,
    generate_families,
)

# ../shared/data/dti beside the checkout (its README), or shared/ inside it where one exists.
_ROOTS = Path(__file__).resolve().parents[4:6]
DTI = next(
    (r / "shared" / "data" / "dti" for r in _ROOTS if (r / "shared" / "data" / "dti").is_dir()),
    _ROOTS[0] / "shared" / "data" / "dti",
)
needs_dti = pytest.mark.skipif(not DTI.is_dir(), reason=f"{DTI} is absent")


@pytest.fixture(scope="module")
def quick() -> Benchmark:
    return synthetic.from_config("quick", 0)


def _dumps(b: Benchmark) -> str:
    """The whole benchmark as JSON text: equal text, equal benchmark."""
    splits = {key: {p: split.part(p).tolist() for p in PARTS} for key, split in b.splits.items()}
    groups = [None if g is None else g.tolist() for g in (b.drug_groups, b.protein_groups)]
    return json.dumps([b.name, b.drugs, b.proteins, splits, groups], sort_keys=True)


def _sizes(b: Benchmark, split: str) -> list[int]:
    return [len(b.splits[split].part(p)) for p in PARTS]


def test_same_seed_same_json_and_other_seed_differs(quick: Benchmark) -> None:
    assert _dumps(synthetic.from_config("quick", 0)) == _dumps(quick)
    assert _dumps(synthetic.from_config("quick", 1)) != _dumps(quick)


def test_quick_shape_and_groups(quick: Benchmark) -> None:
    assert quick.name == "synthetic-quick-0"
    assert (len(quick.drugs), len(quick.proteins)) == (300, 60)
    assert quick.drugs == sorted(set(quick.drugs))
    assert quick.drug_groups is not None and quick.drug_groups.shape == (300,)
    assert quick.protein_groups is not None
    assert np.bincount(quick.protein_groups).tolist() == [5] * 12
    assert all(re.fullmatch("[A-Z]+", s) for s in quick.proteins)
    assert set(quick.splits) == {"random", "unseen_drug", "unseen_protein"}
    assert all(sum(_sizes(quick, s)) == 3600 for s in quick.splits)


def test_positive_rate(quick: Benchmark) -> None:
    labels = np.concatenate([quick.splits["random"].part(p)[:, 2] for p in PARTS])
    assert set(labels.tolist()) == {0, 1}
    assert abs(labels.mean() - 0.41) <= 0.05


@pytest.mark.parametrize(
    ("split", "tol"), [("random", 0.01), ("unseen_drug", 0.02), ("unseen_protein", 0.06)]
)
def test_proportions_7_1_2(quick: Benchmark, split: str, tol: float) -> None:
    sizes = np.array(_sizes(quick, split))
    assert (sizes > 0).all()
    assert np.abs(sizes / sizes.sum() - [0.7, 0.1, 0.2]).max() <= tol


def test_random_split_pairs_disjoint(quick: Benchmark) -> None:
    parts = [{(d, p) for d, p, _ in quick.splits["random"].part(k).tolist()} for k in PARTS]
    assert sum(len(s) for s in parts) == 3600
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])


@pytest.mark.parametrize(("split", "column"), [("unseen_drug", 0), ("unseen_protein", 1)])
def test_group_splits_hold_out_whole_groups(quick: Benchmark, split: str, column: int) -> None:
    groups = quick.drug_groups if column == 0 else quick.protein_groups
    assert groups is not None
    train, val, test = (set(groups[quick.splits[split].part(p)[:, column]]) for p in PARTS)
    assert val and test
    assert not (train & val or train & test or val & test)


def test_drugs_are_drug_like_and_features_vary(quick: Benchmark) -> None:
    from rdkit import Chem

    mols = [Chem.MolFromSmiles(s) for s in quick.drugs]
    assert all(is_drug_like(m) for m in mols)
    rates = pharmacophores(mols).mean(axis=0)
    assert rates.shape == (len(FEATURES),)
    assert (rates > 0.02).all() and (rates < 0.8).all()


def test_pharmacophore_examples() -> None:
    from rdkit import Chem

    ibuprofen = Chem.MolFromSmiles("CC(C)Cc1ccc(cc1)C(C)C(=O)O")
    row = dict(zip(FEATURES, pharmacophores([ibuprofen])[0].tolist(), strict=True))
    assert row["carboxylic_acid"] == 1 and row["basic_amine"] == 0 and row["amide"] == 0
    amine = Chem.MolFromSmiles("CCN(CC)CCOc1ccc(Cl)cc1")
    row = dict(zip(FEATURES, pharmacophores([amine])[0].tolist(), strict=True))
    assert row["basic_amine"] == row["ether"] == row["halogen"] == 1


def test_protein_members_carry_their_motifs() -> None:
    prots = generate_families(np.random.default_rng(3), 4)
    patterns = ["".join(f"[{allowed}]" for allowed in m) for m in prots.motif_residues]
    for seq, types in zip(prots.sequences, prots.motifs, strict=True):
        assert (
            MIN_LEN - MAX_INDELS * MAX_INDEL_LEN <= len(seq) <= MAX_LEN + MAX_INDELS * MAX_INDEL_LEN
        )
        assert all(re.search(patterns[t], seq) for t in types)


def test_quick_ceilings_separate_interaction_from_biases() -> None:
    c = synthetic.ceilings(0, "quick")
    assert c["noise_free"] > 0.85
    assert c["both_biases"] < 0.78
    assert c["noise_free"] - c["both_biases"] > 0.12


@needs_dti
def test_load_bindingdb_sample() -> None:
    b = csvdata.load(DTI / "bindingdb_sample")
    assert list(b.splits) == ["bindingdb_sample"]
    split = b.splits["bindingdb_sample"]
    assert [len(split.part(p)) for p in PARTS] == [172, 25, 49]
    assert [int(split.part(p)[:, 2].sum()) for p in PARTS] == [67, 8, 19]
    assert (len(b.drugs), len(b.proteins)) == (241, 165)


@needs_dti
def test_load_human_two_splits() -> None:
    b = csvdata.load(DTI / "human")
    assert list(b.splits) == ["cold", "random"]
    assert _sizes(b, "random") == [4197, 600, 1200]
    assert _sizes(b, "cold") == [3453, 155, 311]
    positives = {k: [int(b.splits[k].part(p)[:, 2].sum()) for p in PARTS] for k in b.splits}
    assert positives == {"random": [1846, 251, 536], "cold": [1815, 59, 121]}
    assert (len(b.drugs), len(b.proteins)) == (2726, 2001)
    assert b.drug_groups is None and b.protein_groups is None


GOOD = "SMILES,Protein,Y\nCCO,MKVLA,1\nc1ccccc1O,MKVLA,0\n"


def _folder(tmp_path: Path, **files: str) -> Path:
    for part in PARTS:
        (tmp_path / f"{part}.csv").write_text(files.get(part, GOOD))
    return tmp_path


def test_load_tmp_keeps_duplicates_and_shares_index(tmp_path: Path) -> None:
    b = csvdata.load(_folder(tmp_path, val=GOOD + "CCO,MKVLA,1\n"))
    assert b.drugs == ["CCO", "c1ccccc1O"] and b.proteins == ["MKVLA"]
    assert b.splits[tmp_path.name].val.tolist() == [[0, 0, 1], [1, 0, 0], [0, 0, 1]]


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ("SMILES,Protein\nCCO,MKV\n", r"train\.csv: missing column\(s\) \['Y'\]"),
        ("SMILES,Protein,Y\nCCO,MKV,1\nCCO,MKV,2\n", r"train\.csv, line 3: label '2'"),
        ("SMILES,Protein,Y\nCCO,MKV,yes\n", r"train\.csv, line 2: label 'yes'"),
        ("SMILES,Protein,Y\nCCO,MKV,1\n,MKV,0\n", r"train\.csv, line 3: empty SMILES"),
        ("SMILES,Protein,Y\nCCO,,1\n", r"train\.csv, line 2: empty protein"),
        ("SMILES,Protein,Y\nCCO,MKV,1\nC1CC,MKV,0\n", r"train\.csv, line 3: rdkit cannot"),
        ("SMILES,Protein,Y\nCCO,mkv,1\n", r"train\.csv, line 2: protein sequence must"),
        ("", r"train\.csv: not a readable CSV"),
    ],
)
def test_load_errors_name_file_and_line(tmp_path: Path, train: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        csvdata.load(_folder(tmp_path, train=train))


def test_load_missing_file_and_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="holds neither"):
        csvdata.load(tmp_path / "a")
    split = tmp_path / "b" / "random"
    split.mkdir(parents=True)
    (split / "train.csv").write_text(GOOD)
    (split / "test.csv").write_text(GOOD)
    with pytest.raises(ValueError, match=r"random/val\.csv: missing file"):
        csvdata.load(tmp_path / "b")
