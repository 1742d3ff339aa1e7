"""The researcher's task text for ``biomed``, from the children's settings."""

from __future__ import annotations

import textwrap
from typing import Any


def _fill(text: str) -> str:
    return textwrap.fill(" ".join(text.split()), width=90)


def describe(settings: dict[str, Any]) -> str:
    """The researcher's task text."""
    spec = ", ".join(f"{key}: {value}" for key, value in settings["spec"].items())
    intro = _fill(
        """Improve a drug-target interaction (DTI) model: given a drug (a molecular graph) and
        a protein (an amino-acid sequence), predict whether they interact. The seed is DrugBAN
        (Bai et al. 2023): a GIN-like graph network over atoms, a 1-D CNN over residues and a
        bilinear attention network between every atom and every residue, then an MLP. The
        ASI-Evolve paper improved DrugBAN mostly in the interaction module (Sinkhorn
        attention, domain marginalisation, top-k gating: +6.94 AUROC on unseen drugs)."""
    )
    training = _fill(
        f"""A trusted trainer builds the model (torch.manual_seed per training seed), trains
        it with Adam (lr {settings["lr"]}, batches of {settings["batch_size"]} pairs from
        blocks of proteins, BCE with logits, gradient clip {settings["grad_clip"]}) for
        {settings["epochs"]} epochs per split with one CPU thread, and predicts the validation
        and test pairs after each epoch. The evaluator picks the epoch with the best
        validation AUROC and computes AUROC, AUPRC, F1 and MCC itself; you never see a
        validation or test label. Splits: random pairs, unseen drugs (whole scaffold clusters
        held out) and unseen protein families. Fitness: a weighted sum of validation AUROC and
        AUPRC over the splits, averaged over training seeds. Training time counts: every
        child has a time limit, so a model much slower than the seed fails."""
    )
    ideas = _fill(
        """Ideas that tend to matter: generalising to unseen drugs and proteins (not
        memorising them), how drug and protein features interact, regularisation at a short
        budget, and staying numerically stable (NaN logits fail the evaluation)."""
    )
    contract = textwrap.dedent(
        f"""\
        Write a program (imports: torch, math and the standard library) that defines

            def build_model(spec: dict) -> torch.nn.Module

        with spec = {{{spec}}}
        (width: the seed's hidden size at this scale). The model is called as
        model(drugs, proteins, pairs) and returns one logit per pair, a float tensor [B]:
        - drugs.x float [N, atom_dim] atom features; drugs.edge_index long [2, E] bonds in
          both directions (row 0 source, row 1 target); drugs.edge_attr float [E, bond_dim];
          drugs.graph long [N], the drug (0..G-1) of each atom; drugs.count G;
        - proteins.tokens long [P, L] residue ids (0 = padding); proteins.mask bool [P, L];
        - pairs long [2, B]: row 0 a drug 0..G-1, row 1 a protein 0..P-1. Each distinct drug
          and protein of a batch appears once: encode each once, then gather per pair."""
    )
    return "\n\n".join([intro, contract, training, ideas]) + "\n"
