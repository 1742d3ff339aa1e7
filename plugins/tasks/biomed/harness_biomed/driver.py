"""The trusted trainer, executed in the sandbox beside the candidate's ``build_model``.

It reads ``data.npz`` from its working directory (molecular graphs, residue ids, training
pairs with their labels, validation and test pairs without), trains the candidate's model
for a fixed number of epochs with one torch thread, and after each epoch writes the
predicted probabilities of the validation and test pairs to ``preds-<split>-<seed>.npz``.
The evaluator, which alone holds those labels, computes every metric and picks the epoch
by validation AUROC. This module reports only what it can see: losses, times, sizes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

#: Forward passes whose use by the model marks it as attention-based (a descriptor).
_ATTENTION_OPS = {"softmax", "scaled_dot_product_attention", "multi_head_attention_forward"}


@dataclass
class Drugs:
    """The distinct drugs of a batch as one graph (see the candidate contract)."""

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor
    graph: torch.Tensor
    count: int


@dataclass
class Proteins:
    """The distinct proteins of a batch, padded with 0 to the longest."""

    tokens: torch.Tensor
    mask: torch.Tensor


class ContractError(Exception):
    """The model broke the contract: the message is the candidate's feedback."""


class Data:
    """The arrays of ``data.npz`` as tensors, and batches built from them."""

    def __init__(self, path: str, device: str = "cpu") -> None:
        self.device = torch.device(device)
        with np.load(path) as arrays:
            self.arrays = {key: arrays[key] for key in arrays.files}
        self.atom_x = torch.from_numpy(self.arrays["atom_x"])
        self.edge_index = torch.from_numpy(self.arrays["edge_index"])
        self.edge_attr = torch.from_numpy(self.arrays["edge_attr"])
        self.atom_ptr = self.arrays["atom_ptr"]
        self.edge_ptr = self.arrays["edge_ptr"]
        self.tokens = torch.from_numpy(self.arrays["protein_tokens"].astype(np.int64))
        self.lengths = self.arrays["protein_len"]

    def pairs(self, part: str, split: str) -> np.ndarray:
        return self.arrays[f"{part}-{split}"]

    def batch(self, rows: np.ndarray) -> tuple[Drugs, Proteins, torch.Tensor]:
        """The batch of pairs ``rows`` ([B, >= 2]: drug, protein): each distinct drug and
        protein once, and the pairs as indices into them."""
        drug_ids, drug_of = np.unique(rows[:, 0], return_inverse=True)
        prot_ids, prot_of = np.unique(rows[:, 1], return_inverse=True)
        atoms, edges, graph, offset = [], [], [], 0
        for g, d in enumerate(drug_ids):
            a0, a1 = int(self.atom_ptr[d]), int(self.atom_ptr[d + 1])
            e0, e1 = int(self.edge_ptr[d]), int(self.edge_ptr[d + 1])
            atoms.append(torch.arange(a0, a1))
            edges.append((torch.arange(e0, e1), offset))
            graph.append(torch.full((a1 - a0,), g, dtype=torch.long))
            offset += a1 - a0
        atom_idx = torch.cat(atoms)
        edge_idx = torch.cat([e for e, _ in edges])
        shift = torch.cat([torch.full((len(e),), o, dtype=torch.long) for e, o in edges])
        drugs = Drugs(
            x=self.atom_x.index_select(0, atom_idx).to(self.device),
            edge_index=(self.edge_index.index_select(1, edge_idx) + shift).to(self.device),
            edge_attr=self.edge_attr.index_select(0, edge_idx).to(self.device),
            graph=torch.cat(graph).to(self.device),
            count=len(drug_ids),
        )
        width = int(self.lengths[prot_ids].max())
        tokens = self.tokens[torch.from_numpy(prot_ids), :width].to(self.device)
        proteins = Proteins(tokens=tokens, mask=tokens != 0)
        pairs = torch.from_numpy(np.stack([drug_of, prot_of]).astype(np.int64))
        return drugs, proteins, pairs


def blocks(rows: np.ndarray, size: int, block: int, rng: np.random.Generator | None) -> list:
    """``rows`` cut into batches of at most ``size`` pairs, each from a block of at most
    ``block`` proteins, so a batch encodes few distinct proteins (the CNN's cost). Shuffled
    when ``rng`` is given, in a fixed order otherwise."""
    proteins = np.unique(rows[:, 1])
    if rng is not None:
        proteins = rng.permutation(proteins)
    # few pairs per protein (real sets: about 2.4) would leave batches short of ``size``
    block = max(block, -(-size * len(proteins) // max(len(rows), 1)))
    batches = []
    for start in range(0, len(proteins), block):
        chosen = rows[np.isin(rows[:, 1], proteins[start : start + block])]
        if rng is not None:
            chosen = chosen[rng.permutation(len(chosen))]
        batches.extend(chosen[i : i + size] for i in range(0, len(chosen), size))
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def logits_of(model: nn.Module, data: Data, rows: np.ndarray) -> torch.Tensor:
    """The model's logits for ``rows``, checked against the contract."""
    drugs, proteins, pairs = data.batch(rows)
    out = model(drugs, proteins, pairs.to(data.device))
    if not isinstance(out, torch.Tensor):
        raise ContractError(f"the model returned {type(out).__name__}, not a tensor")
    if out.dim() == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if tuple(out.shape) != (len(rows),):
        raise ContractError(f"the model returned logits of shape {tuple(out.shape)} for "
                            f"{len(rows)} pairs; expected ({len(rows)},)")  # fmt: skip
    if not out.is_floating_point():
        raise ContractError(f"the model returned {out.dtype} logits, not floats")
    return out.float()


def predict(model: nn.Module, data: Data, rows: np.ndarray, settings: dict) -> np.ndarray:
    """Probabilities for ``rows`` in their order (eval mode, no gradients)."""
    model.eval()
    out = np.empty(len(rows), dtype=np.float32)
    index = np.arange(len(rows))
    with torch.no_grad():
        for chunk in blocks(np.column_stack([rows[:, :2], index]), settings["eval_batch_size"],
                            settings["block_proteins"], None):  # fmt: skip
            out[chunk[:, 2]] = torch.sigmoid(logits_of(model, data, chunk)).cpu().numpy()
    model.train()
    if not np.isfinite(out).all():
        raise ContractError("the model predicted non-finite values (NaN or inf) in evaluation")
    return out


def build(candidate: dict[str, Any], spec: dict[str, int]) -> nn.Module:
    build_model = candidate.get("build_model")
    if not callable(build_model):
        raise ContractError("the program defines no function build_model(spec)")
    model = build_model(dict(spec))
    if not isinstance(model, nn.Module):
        raise ContractError(f"build_model returned {type(model).__name__}, not a torch.nn.Module")
    return model


def interaction_share(model: nn.Module, data: Data, rows: np.ndarray, size: int) -> float:
    """How much of the model's output is drug x protein interaction: the share of the
    variance of its logits on a grid of drugs x proteins left after removing the row and
    column means (0 for a model additive in drug and protein)."""
    drugs = np.unique(rows[:, 0])[:size]
    prots = np.unique(rows[:, 1])[: max(2, size // 2)]
    grid = np.array([(d, p) for p in prots for d in drugs], dtype=np.int64)
    model.eval()
    with torch.no_grad():
        values = logits_of(model, data, grid).double().cpu().numpy().reshape(len(prots), len(drugs))
    model.train()
    centred = values - values.mean()
    residual = centred - centred.mean(0, keepdims=True) - centred.mean(1, keepdims=True)
    total = float((centred**2).sum())
    return float((residual**2).sum() / total) if total > 1e-12 else 0.0


def train_run(candidate: dict, data: Data, split: str, seed: int, settings: dict) -> dict:
    """One training of the candidate on ``split`` with ``seed``; predictions saved per epoch."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build(candidate, settings["spec"]).to(data.device)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ContractError("the model has no trainable parameters")
    optimizer = torch.optim.Adam(params, lr=settings["lr"], weight_decay=settings["weight_decay"])
    loss_fn = nn.BCEWithLogitsLoss()
    train = data.pairs("train", split)
    labels = torch.from_numpy(train[:, 2].astype(np.float32)).to(data.device)
    index = np.arange(len(train))
    val, test = data.pairs("val", split), data.pairs("test", split)
    val_preds, test_preds, losses = [], [], []
    started = time.monotonic()
    for epoch in range(settings["epochs"]):
        total, count = 0.0, 0
        for chunk in blocks(np.column_stack([train[:, :2], index]), settings["batch_size"],
                            settings["block_proteins"], rng):  # fmt: skip
            logits = logits_of(model, data, chunk)
            loss = loss_fn(logits, labels[torch.from_numpy(chunk[:, 2]).to(data.device)])
            if not torch.isfinite(loss):
                raise ContractError(f"non-finite training loss ({loss.item()}) in epoch "
                                    f"{epoch + 1} on split {split!r}")  # fmt: skip
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if settings["grad_clip"]:
                nn.utils.clip_grad_norm_(params, settings["grad_clip"])
            optimizer.step()
            total += loss.item() * len(chunk)
            count += len(chunk)
        losses.append(total / max(count, 1))
        val_preds.append(predict(model, data, val, settings))
        test_preds.append(predict(model, data, test, settings))
        print(f"{split} seed {seed} epoch {epoch + 1}: loss {losses[-1]:.4f} "
              f"({time.monotonic() - started:.0f} s)", flush=True)  # fmt: skip
    np.savez(f"preds-{split}-{seed}.npz", val=np.stack(val_preds), test=np.stack(test_preds))
    return {
        "split": split,
        "seed": seed,
        "losses": losses,
        "seconds": time.monotonic() - started,
        "interaction_share": interaction_share(model, data, val, settings["grid"]),
    }


def contract(candidate: dict, data: Data, settings: dict) -> dict:
    """A tiny batch: shapes, finiteness, gradients, size and the attention descriptor."""
    from torch.overrides import TorchFunctionMode

    torch.manual_seed(0)
    model = build(candidate, settings["spec"]).to(data.device)
    rows = data.pairs("train", settings["splits"][0])[: settings["contract_pairs"]]
    seen: set[str] = set()

    class Record(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            seen.add(getattr(func, "__name__", ""))
            return func(*args, **(kwargs or {}))

    with Record():
        logits = logits_of(model, data, rows)
    if not torch.isfinite(logits).all():
        raise ContractError("the untrained model returned non-finite logits on a tiny batch")
    labels = torch.from_numpy(rows[:, 2].astype(np.float32)).to(data.device)
    nn.BCEWithLogitsLoss()(logits, labels).backward()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ContractError("the model has no trainable parameters")
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        raise ContractError("no parameter gets a gradient from the loss")
    if not all(torch.isfinite(g).all() for g in grads):
        raise ContractError("non-finite gradients on a tiny batch")
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "uses_attention": float(bool(seen & _ATTENTION_OPS)),
        "pairs": len(rows),
    }


def evaluate(stage: str, settings: dict[str, Any], candidate: dict[str, Any]) -> dict[str, Any]:
    """The sandboxed child's entry: ``contract`` or ``train`` (every split x seed given)."""
    torch.set_num_threads(int(settings["threads"]))
    if torch.get_num_interop_threads() != int(settings["threads"]):
        try:
            torch.set_num_interop_threads(int(settings["threads"]))
        except RuntimeError:
            pass  # already set by an earlier parallel call in this process
    data = Data("data.npz", settings["device"])
    try:
        if stage == "contract":
            return contract(candidate, data, settings)
        probes = contract(candidate, data, settings)
        runs = [{**train_run(candidate, data, split, int(seed), settings), **probes}
                for seed in settings["seeds"] for split in settings["splits"]]  # fmt: skip
        return {"runs": runs}
    except ContractError as exc:
        return {"failure": str(exc)}
