"""Drug-only ablation of the DrugBAN seed: the same GIN-like drug encoder, mean-pooled over
each drug's atoms, then an MLP to a logit. Proteins are ignored, so this model can only learn
how often each kind of drug binds (ligand bias); a DTI model that does not beat it has not
learned an interaction.

Contract: ``build_model(spec)`` with spec keys atom_dim, bond_dim, protein_vocab,
max_protein_len and width (the scale's hidden size) returns an nn.Module;
``model(drugs, proteins, pairs)`` returns logits [B].
"""

import torch
from torch import nn

WIDTH = 32


class DrugGNN(nn.Module):
    """GIN-like message passing; bond features enter each message (as in GINE)."""

    def __init__(self, atom_dim, bond_dim, width=WIDTH, layers=3):
        super().__init__()
        self.embed = nn.Linear(atom_dim, width)
        self.bonds = nn.ModuleList(nn.Linear(bond_dim, width) for _ in range(layers))
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))
            for _ in range(layers)
        )
        self.eps = nn.Parameter(torch.zeros(layers))

    def forward(self, drugs):
        h = self.embed(drugs.x)
        src, dst = drugs.edge_index
        for i, (bond, mlp) in enumerate(zip(self.bonds, self.mlps, strict=True)):
            message = torch.relu(h.index_select(0, src) + bond(drugs.edge_attr))
            total = torch.zeros_like(h).index_add_(0, dst, message)
            h = h + torch.relu(mlp((1 + self.eps[i]) * h + total))
        return h  # [N, width]


class DrugOnly(nn.Module):
    def __init__(self, spec):
        super().__init__()
        width = spec.get("width", WIDTH)
        self.drug = DrugGNN(spec["atom_dim"], spec["bond_dim"], width)
        self.head = nn.Sequential(nn.Linear(width, 2 * width), nn.ReLU(), nn.Linear(2 * width, 1))

    def forward(self, drugs, proteins, pairs):
        h = self.drug(drugs)
        total = h.new_zeros(drugs.count, h.shape[1]).index_add_(0, drugs.graph, h)
        sizes = torch.bincount(drugs.graph, minlength=drugs.count).clamp(min=1)
        pooled = total / sizes.unsqueeze(1).to(h.dtype)
        return self.head(pooled).squeeze(-1).index_select(0, pairs[0])


def build_model(spec):
    return DrugOnly(spec)
