"""The seed programs keep the candidate contract: logits of shape [B], finite gradients, each
ablation blind to the side it ignores, and DrugBAN's padding masked."""

from __future__ import annotations

import runpy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

SEEDS = Path(__file__).resolve().parents[1] / "harness_biomed" / "seeds"
SPEC = {"atom_dim": 9, "bond_dim": 4, "protein_vocab": 26, "max_protein_len": 40}
NAMES = ("drugban", "drug_only", "prot_only")


def build(name: str) -> torch.nn.Module:
    """A seed's model, built from the program file as the sandbox would run it."""
    torch.manual_seed(0)
    return runpy.run_path(str(SEEDS / f"{name}.py"))["build_model"](dict(SPEC))


def drug_batch(sizes: tuple[int, ...], seed: int = 1) -> SimpleNamespace:
    """Chain-shaped molecules with one ring bond each, every bond in both directions."""
    generator = torch.Generator().manual_seed(seed)
    edges: list[tuple[int, int]] = []
    start = 0
    for size in sizes:
        bonds = [(start + i, start + i + 1) for i in range(size - 1)] + [(start, start + 3)]
        edges += bonds + [(b, a) for a, b in bonds]
        start += size
    edge_index = torch.tensor(edges, dtype=torch.int64).t()
    return SimpleNamespace(
        x=torch.randn(start, SPEC["atom_dim"], generator=generator),
        edge_index=edge_index,
        edge_attr=torch.randn(edge_index.shape[1], SPEC["bond_dim"], generator=generator),
        graph=torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes)),
        count=len(sizes),
    )


def protein_batch(lengths: tuple[int, ...], seed: int = 2) -> SimpleNamespace:
    """Random residue ids 1..vocab-1, right-padded with 0 to the longest protein."""
    generator = torch.Generator().manual_seed(seed)
    width = max(lengths)
    tokens = torch.zeros(len(lengths), width, dtype=torch.int64)
    for row, length in enumerate(lengths):
        tokens[row, :length] = torch.randint(
            1, SPEC["protein_vocab"], (length,), generator=generator
        )
    return SimpleNamespace(tokens=tokens, mask=tokens > 0)


DRUGS = drug_batch((4, 5, 7))
PROTEINS = protein_batch((9, 14))
PAIRS = torch.tensor([[0, 1, 2, 0, 2], [0, 0, 1, 1, 1]])


def logits(model: torch.nn.Module, drugs: Any, proteins: Any, pairs: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(drugs, proteins, pairs)


@pytest.mark.parametrize("name", NAMES)
def test_forward_and_backward(name: str) -> None:
    model = build(name)
    model.train()
    out = model(DRUGS, PROTEINS, PAIRS)
    assert out.shape == (5,)
    assert torch.isfinite(out).all()
    out.sum().backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all(), param_name
        assert param.grad.abs().sum() > 0, param_name


@pytest.mark.parametrize(
    ("name", "drugs_matter", "proteins_matter"),
    [("drugban", True, True), ("drug_only", True, False), ("prot_only", False, True)],
)
def test_inputs_that_matter(name: str, drugs_matter: bool, proteins_matter: bool) -> None:
    model = build(name)
    base = logits(model, DRUGS, PROTEINS, PAIRS)
    other_drugs = logits(model, drug_batch((4, 5, 7), seed=3), PROTEINS, PAIRS)
    other_proteins = logits(model, DRUGS, protein_batch((9, 14), seed=4), PAIRS)
    assert torch.equal(base, other_drugs) is not drugs_matter
    assert torch.equal(base, other_proteins) is not proteins_matter
    if drugs_matter:
        assert (base - other_drugs).abs().max() > 1e-4
    if proteins_matter:
        assert (base - other_proteins).abs().max() > 1e-4


def test_drugban_masks_padding() -> None:
    """A longer protein or a bigger drug added to the batch leaves the other pairs' logits."""
    model = build("drugban")
    base = logits(model, DRUGS, PROTEINS, PAIRS)
    longer = protein_batch((9, 14, 31))
    longer.tokens[:2, :14] = PROTEINS.tokens
    longer.mask = longer.tokens > 0
    bigger = drug_batch((4, 5, 7, 11))
    bigger.x[:16], bigger.edge_attr[: DRUGS.edge_index.shape[1]] = DRUGS.x, DRUGS.edge_attr
    assert torch.equal(bigger.edge_index[:, : DRUGS.edge_index.shape[1]], DRUGS.edge_index)
    extra = torch.tensor([[3], [2]])
    out = logits(model, bigger, longer, torch.cat([PAIRS, extra], dim=1))
    torch.testing.assert_close(out[:5], base, rtol=1e-5, atol=1e-5)


def test_drugban_ignores_atom_order() -> None:
    """Atoms need not be grouped by drug: shuffling them (and renumbering bonds) is a no-op."""
    model = build("drugban")
    base = logits(model, DRUGS, PROTEINS, PAIRS)
    perm = torch.randperm(DRUGS.x.shape[0], generator=torch.Generator().manual_seed(5))
    new_id = torch.empty_like(perm)
    new_id[perm] = torch.arange(perm.numel())
    shuffled = SimpleNamespace(
        x=DRUGS.x[perm],
        edge_index=new_id[DRUGS.edge_index],
        edge_attr=DRUGS.edge_attr,
        graph=DRUGS.graph[perm],
        count=DRUGS.count,
    )
    torch.testing.assert_close(logits(model, shuffled, PROTEINS, PAIRS), base, rtol=1e-5, atol=1e-5)
