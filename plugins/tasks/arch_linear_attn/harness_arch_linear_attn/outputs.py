"""What a candidate's sandboxed process leaves behind, checked before the evaluator uses it.

The weights and logits files come from untrusted code: they are loaded without pickle and
checked for type, shape and finiteness, and a bad one fails the candidate, never the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.task import EvalResult

if TYPE_CHECKING:  # numpy is imported where it is used, not when the plugin loads
    import numpy as np

#: State-dict prefix of the first block's candidate layer (its parameter count).
MIXER = "blocks.0.mixer."


class CandidateFailed(Exception):
    """Training or scoring a layer failed; the message is the researcher's feedback."""

    def __init__(self, message: str, error_class: str = "exception") -> None:
        super().__init__(message)
        self.error_class = error_class

    @classmethod
    def of(cls, what: str, failed: EvalResult) -> CandidateFailed:
        """A failed sandboxed run as the failure of ``what``, with its error class."""
        return cls(f"{what} failed:\n{failed.feedback}", failed.error_class or "exception")


def load_weights(path: Path) -> dict[str, Any]:
    """A state dict written by the candidate's process: tensors only, no code."""
    import torch

    if not path.is_file():
        raise CandidateFailed(f"training left no weights file {path.name}", "invalid")
    try:
        weights = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the candidate's fault
        raise CandidateFailed(f"unreadable weights {path.name}: {exc}", "invalid") from exc
    if not isinstance(weights, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()
    ):
        raise CandidateFailed(f"{path.name} is not a state dict of tensors", "invalid")
    return weights


def load_floats(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """An array written by the candidate's process, checked for shape and finiteness."""
    import numpy as np

    if not path.is_file():
        raise CandidateFailed(f"scoring left no file {path.name}", "invalid")
    try:
        values = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise CandidateFailed(f"unreadable {path.name}: {exc}", "invalid") from exc
    if values.shape != shape or not np.issubdtype(values.dtype, np.floating):
        raise CandidateFailed(
            f"{path.name}: expected floats of shape {shape}, got {values.dtype} {values.shape}",
            "invalid",
        )
    if not np.isfinite(values).all():
        raise CandidateFailed(f"the trained model gives NaN or inf in {path.name}", "nonfinite")
    return values.astype(np.float64)


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row negative log-likelihood of ``targets`` and whether the argmax hit it."""
    import numpy as np

    shifted = logits - logits.max(axis=1, keepdims=True)
    rows = np.arange(len(targets))
    nll = np.log(np.exp(shifted).sum(axis=1)) - shifted[rows, targets]
    return nll, logits.argmax(axis=1) == targets


def uses_gating(program: str) -> int:
    """1 when the evolved block calls a sigmoid (a gate or a beta), the MAP-Elites axis."""
    start, end = program.find("EVOLVE-BLOCK-START"), program.find("EVOLVE-BLOCK-END")
    block = program[start:end] if 0 <= start < end else program
    return int("sigmoid" in block)
