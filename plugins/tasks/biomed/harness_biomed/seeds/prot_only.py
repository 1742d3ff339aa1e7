"""Protein-only ablation of the DrugBAN seed: the same 1-D protein CNN, pooled over each
protein's residues (masked max and mean), then an MLP to a logit. Drugs are ignored, so this
model can only learn how druggable each kind of protein is; a DTI model that does not beat it
has not learned an interaction.

Contract: ``build_model(spec)`` with spec keys atom_dim, bond_dim, protein_vocab,
max_protein_len and width (the scale's hidden size) returns an nn.Module;
``model(drugs, proteins, pairs)`` returns logits [B].
"""

import torch
from torch import nn

WIDTH = 32


class ProteinCNN(nn.Module):
    """Embedding, then three same-length convolutions with batch norm. Padding is reset to
    zero after every layer, so a residue near a protein's end sees the same zeros however
    much padding the batch adds."""

    def __init__(self, vocab, width=WIDTH, kernels=(3, 6, 9)):
        super().__init__()
        self.embed = nn.Embedding(vocab, width, padding_idx=0)
        self.pads = [((k - 1) // 2, k // 2) for k in kernels]  # "same" length, zeros outside
        self.convs = nn.ModuleList(nn.Conv1d(width, width, k) for k in kernels)
        self.norms = nn.ModuleList(nn.BatchNorm1d(width) for _ in kernels)

    def forward(self, proteins):
        keep = proteins.mask.unsqueeze(1).to(torch.float32)  # [P, 1, L]
        h = self.embed(proteins.tokens).transpose(1, 2)
        for pad, conv, norm in zip(self.pads, self.convs, self.norms, strict=True):
            h = torch.relu(norm(conv(nn.functional.pad(h, pad)))) * keep
        return h.transpose(1, 2)  # [P, L, width]


class ProtOnly(nn.Module):
    def __init__(self, spec):
        super().__init__()
        width = spec.get("width", WIDTH)
        self.protein = ProteinCNN(spec["protein_vocab"], width)
        self.head = nn.Sequential(
            nn.Linear(2 * width, 2 * width), nn.ReLU(), nn.Linear(2 * width, 1)
        )

    def forward(self, drugs, proteins, pairs):
        h = self.protein(proteins)
        mask = proteins.mask.unsqueeze(-1)  # [P, L, 1]
        top = h.masked_fill(~mask, float("-inf")).amax(dim=1)
        mean = h.sum(dim=1) / mask.sum(dim=1).clamp(min=1).to(h.dtype)
        pooled = torch.cat([top, mean], dim=-1)
        return self.head(pooled).squeeze(-1).index_select(0, pairs[1])


def build_model(spec):
    return ProtOnly(spec)
