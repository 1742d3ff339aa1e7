"""The metrics of a trained model, computed by the evaluator from the predictions alone.

The candidate never sees a validation or test label, so it can neither report nor tune
these. The epoch is the one with the best validation AUROC (DrugBAN's model selection);
F1 and MCC need a decision threshold, chosen where F1 peaks on the validation pairs and
applied unchanged to the test pairs (DrugBAN picks it on the test set itself, which leaks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported where it is used, not when the plugin loads
    import numpy as np


METRICS = ("auroc", "auprc", "f1", "mcc")


def threshold(labels: np.ndarray, probs: np.ndarray) -> float:
    """The probability cut with the best F1 on these pairs."""
    import numpy as np
    from sklearn.metrics import precision_recall_curve

    precision, recall, cuts = precision_recall_curve(labels, probs)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(cuts[int(np.argmax(f1[:-1]))]) if len(cuts) else 0.5


def scores(labels: np.ndarray, probs: np.ndarray, cut: float) -> dict[str, float]:
    """AUROC, AUPRC (average precision), F1 and MCC of ``probs`` against ``labels``. A
    single-class label set has no AUROC: it is reported as 0.5 (chance)."""
    import numpy as np
    from sklearn.metrics import average_precision_score, f1_score, matthews_corrcoef, roc_auc_score

    labels = labels.astype(int)
    predicted = (probs >= cut).astype(int)
    both = len(np.unique(labels)) == 2
    return {
        "auroc": float(roc_auc_score(labels, probs)) if both else 0.5,
        "auprc": float(average_precision_score(labels, probs)) if both else float(labels.mean()),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "mcc": float(matthews_corrcoef(labels, predicted)),
    }


def select(
    val_labels: np.ndarray, test_labels: np.ndarray, val: np.ndarray, test: np.ndarray
) -> dict[str, Any]:
    """Validation and test metrics at the epoch of best validation AUROC.

    ``val`` / ``test`` are the predictions per epoch, [epochs, pairs]."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    two = len(np.unique(val_labels)) == 2
    aurocs = [float(roc_auc_score(val_labels, epoch)) if two else 0.5 for epoch in val]
    best = int(np.argmax(aurocs))
    cut = threshold(val_labels, val[best]) if two else 0.5
    return {
        "epoch": best + 1,
        "val_auroc_per_epoch": aurocs,
        "threshold": cut,
        "val": scores(val_labels, val[best], cut),
        "test": scores(test_labels, test[best], cut),
        "val_spread": float(np.std(val[best])),
    }
