"""Seeded synthetic DTI benchmark on real molecules with a planted interaction rule.

Rule (domain-data 1.4, with one substructure per sign, smaller biases and shorter proteins
than its design: README, "Choosing the benchmark"): each motif type prefers some
pharmacophore features; a pair's score
is the best motif match of the protein against the drug, plus a drug and a protein bias and
noise; the top 40 % are positive and 5 % of labels flip. A model must find motifs in the
sequence and substructures in the graph and combine them to beat the marginal (bias) ceiling.
Everything derives from one numpy Generator and sorted inputs, so a seed fixes the benchmark.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator
from rdkit.ML.Cluster import Butina
from sklearn.metrics import roc_auc_score

from .benchmark import Benchmark, Split, pairs_array
from .molecules import FEATURES, SUBSTRUCTURES, pharmacophores, pool
from .proteins import N_MOTIFS, generate_families

CONFIGS: dict[str, dict[str, int]] = {
    "quick": {"drugs": 300, "proteins_families": 12, "pairs_per_protein": 60},
    "full": {"drugs": 1200, "proteins_families": 40, "pairs_per_protein": 60},
}
FRACTIONS = np.array([0.7, 0.1, 0.2])  # train / val / test, as in DrugBAN
BIAS_SD = 0.2
NOISE_SD = 0.35
POSITIVE_FRACTION = 0.4
FLIP_RATE = 0.05
BUTINA_DISTANCE = 0.6
N_PLUS, N_MINUS = 1, 1
PREFERENCE_DRAWS = 256


@dataclass
class Planted:
    """The hidden parts of the rule, per pair, kept to measure ceilings."""

    pairs: np.ndarray  # int64 [n, 3]: drug, protein, label (after flips)
    compat: np.ndarray  # float [n]: best motif preference . drug features
    drug_bias: np.ndarray  # float [n]
    protein_bias: np.ndarray  # float [n]
    mean_compat: np.ndarray  # float [n]: the drug's mean compatibility over all proteins
    random_test: np.ndarray  # int64: row numbers of the random split's test pairs


def _preferences(rng: np.random.Generator) -> np.ndarray:
    """Per motif: +1 on one substructure feature, -1 on another; the draw whose feature sums
    cancel best. Only substructures (not the global descriptors) enter the rule, and one of
    each sign: with the design's 3 + 2 over all twelve features, DrugBAN at the CPU budget
    learned no interaction at all (README, "Choosing the benchmark")."""
    n_feat = len(FEATURES)
    best, best_cost = np.zeros((N_MOTIFS, n_feat)), np.inf
    for _ in range(PREFERENCE_DRAWS):
        prefs = np.zeros((N_MOTIFS, n_feat))
        for m in range(N_MOTIFS):
            chosen = rng.choice(SUBSTRUCTURES, size=N_PLUS + N_MINUS, replace=False)
            prefs[m, chosen[:N_PLUS]] = 1.0
            prefs[m, chosen[N_PLUS:]] = -1.0
        cost = float(np.square(prefs.sum(axis=0)).sum())
        if cost < best_cost:
            best, best_cost = prefs, cost
    return best


def _compatibility(
    features: np.ndarray, motifs: list[tuple[int, ...]], prefs: np.ndarray
) -> np.ndarray:
    """Matrix [drugs, proteins]: max over the protein's motifs of preference . features."""
    per_motif = features @ prefs.T  # [drugs, motif types]
    return np.stack([per_motif[:, list(m)].max(axis=1) for m in motifs], axis=1)


def butina_clusters(smiles: list[str], distance: float = BUTINA_DISTANCE) -> np.ndarray:
    """Butina cluster id per molecule on ECFP4 (Morgan r=2, 2048 bits) Tanimoto distance."""
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fps = [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in smiles]
    dists: list[float] = []
    for i in range(1, len(fps)):
        dists.extend(1.0 - x for x in DataStructs.BulkTanimotoSimilarity(fps[i], fps[:i]))
    clusters = Butina.ClusterData(dists, len(fps), distance, isDistData=True)
    groups = np.empty(len(fps), dtype=np.int64)
    for cid, members in enumerate(clusters):
        groups[list(members)] = cid
    return groups


def _group_parts(rng: np.random.Generator, pair_groups: np.ndarray) -> np.ndarray:
    """Part (0 train, 1 val, 2 test) per pair; each whole group goes to the largest deficit."""
    groups, counts = np.unique(pair_groups, return_counts=True)
    target = FRACTIONS * len(pair_groups)
    filled = np.zeros(3)
    part_of: dict[int, int] = {}
    for i in rng.permutation(len(groups)):
        part = int(np.argmax(target - filled))
        part_of[int(groups[i])] = part
        filled[part] += counts[i]
    return np.array([part_of[int(g)] for g in pair_groups], dtype=np.int64)


def _random_parts(rng: np.random.Generator, n: int) -> np.ndarray:
    cut = np.round(np.cumsum(FRACTIONS) * n).astype(int)
    parts = np.searchsorted(cut, np.arange(n), side="right")
    return parts[rng.permutation(n)]


def _split(pairs: np.ndarray, parts: np.ndarray) -> Split:
    return Split(*(pairs_array(pairs[parts == k]) for k in range(3)))


def _labels(rng: np.random.Generator, score: np.ndarray) -> np.ndarray:
    n = len(score)
    labels = np.zeros(n, dtype=np.int64)
    labels[np.argsort(-score, kind="stable")[: round(POSITIVE_FRACTION * n)]] = 1
    flips = rng.choice(n, size=round(FLIP_RATE * n), replace=False)
    labels[flips] = 1 - labels[flips]
    return labels


def _sample_pairs(rng: np.random.Generator, n_drugs: int, n_prot: int, per: int) -> np.ndarray:
    if per > n_drugs:
        raise ValueError(f"pairs_per_protein={per} exceeds drugs={n_drugs}")
    rows = [
        (int(d), p)
        for p in range(n_prot)
        for d in np.sort(rng.choice(n_drugs, size=per, replace=False))
    ]
    return np.asarray(rows, dtype=np.int64).reshape(-1, 2)


def build(
    seed: int,
    drugs: int,
    proteins_families: int,
    pairs_per_protein: int,
    members: int = 5,
    name: str | None = None,
) -> tuple[Benchmark, Planted]:
    """The benchmark together with its hidden planted parts."""
    rng = np.random.default_rng(seed)
    molecules = pool()
    if drugs > len(molecules):
        raise ValueError(f"drugs={drugs} exceeds the pool of {len(molecules)} molecules")
    smiles = sorted(molecules[i] for i in rng.choice(len(molecules), size=drugs, replace=False))
    features = pharmacophores([Chem.MolFromSmiles(s) for s in smiles])
    prots = generate_families(rng, proteins_families, members)
    compat = _compatibility(features, prots.motifs, _preferences(rng))
    drug_bias = rng.normal(0.0, BIAS_SD, size=drugs)
    protein_bias = rng.normal(0.0, BIAS_SD, size=len(prots.sequences))
    dp = _sample_pairs(rng, drugs, len(prots.sequences), pairs_per_protein)
    d, p = dp[:, 0], dp[:, 1]
    planted = compat[d, p] + drug_bias[d] + protein_bias[p]
    labels = _labels(rng, planted + rng.normal(0.0, NOISE_SD, size=len(dp)))
    pairs = np.column_stack([dp, labels]).astype(np.int64)
    drug_groups = butina_clusters(smiles)
    random_parts = _random_parts(rng, len(pairs))
    splits = {
        "random": _split(pairs, random_parts),
        "unseen_drug": _split(pairs, _group_parts(rng, drug_groups[d])),
        "unseen_protein": _split(pairs, _group_parts(rng, prots.families[p])),
    }
    bench = Benchmark(
        name=name or f"synthetic-{seed}",
        drugs=smiles,
        proteins=prots.sequences,
        splits=splits,
        drug_groups=drug_groups,
        protein_groups=prots.families,
    )
    hidden = Planted(
        pairs=pairs,
        compat=compat[d, p],
        drug_bias=drug_bias[d],
        protein_bias=protein_bias[p],
        mean_compat=compat.mean(axis=1)[d],
        random_test=np.flatnonzero(random_parts == 2),
    )
    return bench, hidden


def _config(config: str | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if isinstance(config, str):
        if config not in CONFIGS:
            raise ValueError(f"unknown config {config!r}; expected one of {sorted(CONFIGS)}")
        return config, dict(CONFIGS[config])
    return "custom", dict(config)


def from_config(config: str | Mapping[str, Any], seed: int) -> Benchmark:
    """A named (CONFIGS) or explicit configuration, named synthetic-<config>-<seed>."""
    label, kwargs = _config(config)
    return build(seed, **kwargs, name=f"synthetic-{label}-{seed}")[0]


def ceilings(seed: int, config: str | Mapping[str, Any]) -> dict[str, float]:
    """AUROC of the planted parts on the random split's test pairs (labels after flips)."""
    _, kwargs = _config(config)
    _, h = build(seed, **kwargs)
    t = h.random_test
    y = h.pairs[t, 2]
    scores = {
        "noise_free": h.compat + h.drug_bias + h.protein_bias,
        "drug_bias": h.drug_bias,
        "protein_bias": h.protein_bias,
        "both_biases": h.drug_bias + h.protein_bias,
        "drug_bias_mean_compat": h.drug_bias + h.mean_compat,
    }
    return {key: float(roc_auc_score(y, s[t])) for key, s in scores.items()}
