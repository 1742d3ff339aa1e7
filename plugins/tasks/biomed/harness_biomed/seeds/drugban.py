"""DrugBAN (Bai et al., "Interpretable bilinear attention network with domain adaptation
improves drug-target prediction", Nature Machine Intelligence 2023), rewritten in plain torch
at CPU scale: the seed of the biomed task.

A drug is a molecular graph encoded by a 3-layer GIN-like message-passing network; a protein
is a residue sequence encoded by a 3-layer 1-D CNN (kernels 3/6/9). A 2-head bilinear
attention network scores every (atom, residue) pair of each drug-protein pair with low-rank
bilinear pooling, softmax over the whole map, and pools the two sides into one joint vector
that an MLP turns into a logit. Each distinct drug and protein of a batch is encoded once and
gathered per pair. Padding (atoms past a drug's end, residues past a protein's end) is masked
everywhere, so a pair's logit does not depend on what else is in the batch (in eval mode).
Unlike the reference code, which pools the raw bilinear map over inputs zero-padded to a
fixed size, the map here is a softmax over the real (atom, residue) entries, so the joint
vector does not grow with protein length, and it is layer-normalised rather than
batch-normalised.

What a researcher might change: the interaction module (`BilinearAttention`) is what the
ASI-Evolve paper evolved (Sinkhorn attention, marginalisation over substructures and
domains, top-k gating); the encoders, pooling and decoder are open too. DrugBAN's
domain-adaptation branch (CDAN) is left out: the trainer sees no unlabelled target data.

Contract: ``build_model(spec)`` with spec keys atom_dim, bond_dim, protein_vocab,
max_protein_len and width (the scale's hidden size) returns an nn.Module;
``model(drugs, proteins, pairs)`` returns logits [B].
"""

import math

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


def dense_atoms(h, graph, count):
    """Pad each drug's atoms to the batch's largest drug: ([G, A, D], mask [G, A])."""
    sizes = torch.bincount(graph, minlength=count)
    order = torch.argsort(graph, stable=True)
    starts = torch.cumsum(sizes, 0) - sizes
    slot = torch.empty_like(graph)
    slot[order] = torch.arange(graph.numel(), device=graph.device) - starts[graph[order]]
    atoms_max = int(sizes.max()) if graph.numel() else 1
    flat = graph * atoms_max + slot
    dense = h.new_zeros(count * atoms_max, h.shape[1]).index_copy(0, flat, h)
    mask = torch.zeros(count * atoms_max, dtype=torch.bool, device=h.device)
    mask = mask.index_fill(0, flat, True)
    return dense.view(count, atoms_max, -1), mask.view(count, atoms_max)


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


class BilinearAttention(nn.Module):
    """DrugBAN's bilinear attention network: for each head a low-rank bilinear map between
    every atom and every residue (softmax over the whole masked map), then bilinear pooling
    of both sides weighted by the map, summed over heads and sum-pooled in groups of k."""

    def __init__(self, drug_dim, protein_dim, hidden=WIDTH, heads=2, k=3):
        super().__init__()
        self.k = k
        self.drug_net = nn.Sequential(nn.Linear(drug_dim, hidden * k), nn.ReLU())
        self.protein_net = nn.Sequential(nn.Linear(protein_dim, hidden * k), nn.ReLU())
        self.h_mat = nn.Parameter(torch.randn(1, heads, 1, hidden * k) / math.sqrt(hidden * k))
        self.norm = nn.LayerNorm(hidden)

    def forward(self, atoms, atom_mask, residues, residue_mask, pairs):
        v = self.drug_net(atoms).index_select(0, pairs[0])  # [B, A, K]
        q = self.protein_net(residues).index_select(0, pairs[1])  # [B, L, K]
        heads = self.h_mat.shape[1]
        per_head = (v.unsqueeze(1) * self.h_mat).flatten(1, 2)  # [B, H*A, K]
        logits = (per_head @ q.transpose(1, 2)).unflatten(1, (heads, -1))  # [B, H, A, L]
        mask = atom_mask[pairs[0]].unsqueeze(2) & residue_mask[pairs[1]].unsqueeze(1)
        logits = logits.masked_fill(~mask.unsqueeze(1), float("-inf"))
        att = torch.softmax(logits.flatten(2), dim=-1).view_as(logits)
        att = att.sum(dim=1)  # pooling is linear in the map: sum the heads first
        joint = (v * (att @ q)).sum(dim=1)  # [B, K]
        joint = joint.view(joint.shape[0], -1, self.k).sum(dim=-1)  # [B, hidden]
        return self.norm(joint)


class DrugBAN(nn.Module):
    def __init__(self, spec):
        super().__init__()
        width = spec.get("width", WIDTH)
        self.drug = DrugGNN(spec["atom_dim"], spec["bond_dim"], width)
        self.protein = ProteinCNN(spec["protein_vocab"], width)
        self.interaction = BilinearAttention(width, width, width)
        self.decoder = nn.Sequential(
            nn.Linear(width, 2 * width),
            nn.ReLU(),
            nn.Linear(2 * width, width),
            nn.ReLU(),
            nn.Linear(width, 1),
        )

    def forward(self, drugs, proteins, pairs):
        atoms, atom_mask = dense_atoms(self.drug(drugs), drugs.graph, drugs.count)
        residues = self.protein(proteins)
        joint = self.interaction(atoms, atom_mask, residues, proteins.mask, pairs)
        return self.decoder(joint).squeeze(-1)


def build_model(spec):
    return DrugBAN(spec)
