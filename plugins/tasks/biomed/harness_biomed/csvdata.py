"""Loader for DTI splits in the DrugBAN CSV format (columns SMILES, Protein, Y).

Users bring BindingDB, BioSNAP or Human files unchanged, so every problem is reported as a
ValueError naming the file and line instead of being skipped. Duplicate rows are kept on
purpose: they are part of the published splits (human/cold has 406), and dropping them would
change the pair counts that published results were measured on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem, rdBase

from .benchmark import PARTS, Benchmark, Split, pairs_array

rdBase.DisableLog("rdApp.*")

COLUMNS = ("SMILES", "Protein", "Y")
FILES = tuple(f"{part}.csv" for part in PARTS)
_HEADER_LINES = 1


class _Index:
    """Shared string -> index map, in order of first appearance."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._pos: dict[str, int] = {}

    def __call__(self, item: str) -> int:
        if item not in self._pos:
            self._pos[item] = len(self.items)
            self.items.append(item)
        return self._pos[item]


def _line(row: int) -> int:
    return row + _HEADER_LINES + 1


def _read(file: Path) -> pd.DataFrame:
    """The three columns as strings; empty cells stay empty strings (no NaN guessing)."""
    if not file.is_file():
        raise ValueError(f"{file}: missing file (expected {', '.join(FILES)})")
    try:
        frame = pd.read_csv(file, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{file}: not a readable CSV ({err})") from err
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{file}: missing column(s) {missing}; expected header {COLUMNS}")
    return frame[list(COLUMNS)]


def _labels(file: Path, column: pd.Series) -> np.ndarray:
    values = pd.to_numeric(column.str.strip(), errors="coerce")
    bad = ~values.isin([0, 1])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{file}, line {_line(row)}: label {column.iloc[row]!r} is not 0 or 1")
    return values.to_numpy(dtype=np.int64)


def _check_strings(file: Path, frame: pd.DataFrame) -> None:
    for column, what in (("SMILES", "SMILES"), ("Protein", "protein sequence")):
        empty = frame[column].str.strip() == ""
        if empty.any():
            row = int(np.flatnonzero(empty.to_numpy())[0])
            raise ValueError(f"{file}, line {_line(row)}: empty {what}")
    letters = frame["Protein"].str.fullmatch(r"[A-Z]+")
    if not letters.all():
        row = int(np.flatnonzero(~letters.to_numpy())[0])
        raise ValueError(
            f"{file}, line {_line(row)}: protein sequence must be upper-case letters A-Z"
        )


def _check_smiles(file: Path, smiles: pd.Series, parsed: dict[str, bool]) -> None:
    for row, smi in enumerate(smiles):
        if smi not in parsed:
            parsed[smi] = Chem.MolFromSmiles(smi) is not None
        if not parsed[smi]:
            raise ValueError(f"{file}, line {_line(row)}: rdkit cannot parse SMILES {smi!r}")


def _load_part(file: Path, drugs: _Index, proteins: _Index, parsed: dict[str, bool]) -> np.ndarray:
    frame = _read(file)
    _check_strings(file, frame)
    labels = _labels(file, frame["Y"])
    _check_smiles(file, frame["SMILES"], parsed)
    rows = [
        (drugs(s), proteins(p), y)
        for s, p, y in zip(frame["SMILES"], frame["Protein"], labels, strict=True)
    ]
    return pairs_array(rows)


def _split_folders(path: Path) -> dict[str, Path]:
    """{split name: folder}: the folder itself if it holds any split file, else its children."""
    if not path.is_dir():
        raise ValueError(f"{path}: not a folder")
    if any((path / f).exists() for f in FILES):
        return {path.name: path}
    subs = sorted(p for p in path.iterdir() if p.is_dir())
    if not subs:
        raise ValueError(f"{path}: holds neither {', '.join(FILES)} nor split sub-folders")
    return {p.name: p for p in subs}


def load(path: str | Path) -> Benchmark:
    """Benchmark from a split folder or a folder of split folders, with shared indices."""
    path = Path(path)
    drugs, proteins = _Index(), _Index()
    parsed: dict[str, bool] = {}
    splits = {
        name: Split(*(_load_part(folder / f, drugs, proteins, parsed) for f in FILES))
        for name, folder in _split_folders(path).items()
    }
    return Benchmark(name=path.name, drugs=drugs.items, proteins=proteins.items, splits=splits)
