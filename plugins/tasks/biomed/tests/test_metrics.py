"""The evaluator's metrics against independent oracles: pair counting for AUROC, hand-worked
precision at each hit for AUPRC, a confusion matrix for F1 and MCC."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness_biomed.metrics import scores, select, threshold


def auroc_by_pairs(labels: np.ndarray, probs: np.ndarray) -> float:
    """The probability that a positive outranks a negative, ties counted half."""
    pos, neg = probs[labels == 1], probs[labels == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def confusion(labels: np.ndarray, predicted: np.ndarray) -> tuple[int, int, int, int]:
    tp = int(((labels == 1) & (predicted == 1)).sum())
    fp = int(((labels == 0) & (predicted == 1)).sum())
    fn = int(((labels == 1) & (predicted == 0)).sum())
    tn = int(((labels == 0) & (predicted == 0)).sum())
    return tp, fp, fn, tn


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_f1_and_mcc_match_their_definitions(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 300)
    probs = np.round(np.clip(0.3 * labels + rng.normal(0.35, 0.25, 300), 0, 1), 2)  # ties
    found = scores(labels, probs, 0.5)
    assert found["auroc"] == pytest.approx(auroc_by_pairs(labels, probs), abs=1e-12)
    tp, fp, fn, tn = confusion(labels, (probs >= 0.5).astype(int))
    assert found["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    mcc = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert found["mcc"] == pytest.approx(mcc)


def test_auprc_is_the_mean_precision_at_each_positive() -> None:
    labels = np.array([1, 0, 1, 0, 0, 1])
    probs = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])
    # positives at ranks 1, 3 and 6: precision 1/1, 2/3, 3/6
    assert scores(labels, probs, 0.5)["auprc"] == pytest.approx((1 + 2 / 3 + 3 / 6) / 3)


def test_a_constant_prediction_is_at_chance() -> None:
    labels = np.array([0, 1] * 50)
    found = scores(labels, np.full(100, 0.3), 0.5)
    assert found["auroc"] == 0.5 and found["mcc"] == 0.0 and found["f1"] == 0.0
    assert found["auprc"] == pytest.approx(0.5)


def test_the_threshold_is_where_f1_peaks() -> None:
    labels = np.array([1, 1, 0, 1, 0, 0, 0])
    probs = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2])
    cut = threshold(labels, probs)
    best = max(
        (2 * c[0] / (2 * c[0] + c[1] + c[2]), t)
        for t in probs
        for c in [confusion(labels, (probs >= t).astype(int))]
    )
    assert cut == best[1] == 0.6


def test_select_takes_the_epoch_of_best_validation_auroc_and_its_test_values() -> None:
    rng = np.random.default_rng(0)
    val_y, test_y = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    noise_v, noise_t = rng.random(200), rng.random(200)
    strengths = [0.1, 0.8, 0.3]  # epoch 2 separates best
    val = np.stack([np.clip(s * val_y + (1 - s) * noise_v, 0, 1) for s in strengths])
    test = np.stack([np.clip(s * test_y + (1 - s) * noise_t, 0, 1) for s in strengths])
    found = select(val_y, test_y, val, test)
    assert found["epoch"] == 2
    assert found["val_auroc_per_epoch"] == pytest.approx(
        [auroc_by_pairs(val_y, v) for v in val], abs=1e-12
    )
    assert found["test"]["auroc"] == pytest.approx(auroc_by_pairs(test_y, test[1]), abs=1e-12)
    assert found["threshold"] == threshold(val_y, val[1])
    tp, fp, fn, _ = confusion(test_y, (test[1] >= found["threshold"]).astype(int))
    assert found["test"]["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
