"""Prior knowledge about circle packing that the researcher may be shown.

Written for this plugin. The numbers for n = 26 and n = 32 come from our own runs of the
``strong`` seed with more restarts, checked by this plugin's exact validator.
"""

from __future__ import annotations

from harness.task import CognitionItem

SOURCE = "harness_circle_packing"

_ITEMS: tuple[tuple[str, str], ...] = (
    (
        "geometry",
        "Equal circles in a grid are a weak baseline: a 5 x 5 grid of radius 0.1 fills the "
        "unit square and gives 2.5 with 25 circles, and a 26th circle gets no room. Hexagonal "
        "density pi/(2*sqrt(3)) ~ 0.9069 only holds far from walls; with 26-32 circles most of "
        "the square is boundary region, so the best packings mix sizes instead of repeating one "
        "cell.",
    ),
    (
        "geometry",
        "Walls matter as much as neighbours. In a packing of 26 circles with sum 2.635983, 16 "
        "circles touch a side and 4 of them sit in corners (touching two sides); only 10 are "
        "interior. A circle in a corner has its centre at (r, r), sqrt(2)*r from the corner, so "
        "the corner gap behind it is small; gaps between large circles along a side are where "
        "small circles add the most.",
    ),
    (
        "geometry",
        "Use variable radii. The best n = 26 packing found by the strong seed has radii from "
        "about 0.069 to 0.137 and 58 circle-circle contacts: nearly every circle is held by "
        "three or more contacts or walls. For n = 32 the radii spread from about 0.062 to 0.123. "
        "Forcing equal or few distinct radii (see the num_distinct_radii metric) costs score.",
    ),
    (
        "optimisation",
        "Optimise centres and radii jointly with SLSQP on the vector (x, y, r), maximising "
        "sum(r). Write non-overlap in squared form, (xi-xj)^2 + (yi-yj)^2 - (ri+rj)^2 >= 0, which "
        "is smooth, and walls as the linear constraints x - r >= 0, 1 - x - r >= 0 (same for y). "
        "Give analytic Jacobians: with n = 26 (325 pair and 104 wall constraints) one solve then "
        "takes about 0.1 s, so dozens of solves fit in the time limit.",
    ),
    (
        "optimisation",
        "For fixed centres the best radii are a linear program: maximise sum(r) subject to "
        "ri + rj <= dij, ri <= distance to the nearest wall, r >= 0 "
        "(scipy.optimize.linprog, method='highs'). That turns a search over 3n variables into a "
        "search over 2n centres with an exact inner step. LP solvers meet constraints only to "
        "their tolerance (~1e-9), so repair the radii afterwards.",
    ),
    (
        "optimisation",
        "The landscape has many local optima with close values: SLSQP from different layouts "
        "for n = 26 stops at 2.5823, 2.6154, 2.6269, 2.6353, 2.635896, 2.635977 or 2.635983. "
        "Perturbing the best centres (Gaussian noise of about 0.03-0.05) and re-optimising, a few "
        "dozen times, moves between these basins within seconds; a fixed random seed keeps the "
        "result reproducible.",
    ),
    (
        "optimisation",
        "Never rank candidates by the optimiser's objective: SLSQP can stop at infeasible points "
        "whose sum of radii looks far too good (we saw 6.7 for n = 32). Repair every result "
        "(cap radii at the walls, shrink overlapping pairs) and compare the repaired sums.",
    ),
    (
        "optimisation",
        "Penalty methods scale further than explicit constraints: minimise -sum(r) plus w times "
        "the squared overlaps and wall violations with L-BFGS-B, raise w step by step "
        "(continuation), then polish with constrained SLSQP. Useful when the number of pair "
        "constraints makes SLSQP slow or when many starts are wanted.",
    ),
    (
        "process",
        "Make one targeted change per step (a starting layout, the number of restarts, the "
        "perturbation size, a new inner solver) so the score change can be attributed to it. "
        "Rewriting the whole program at once usually loses the parts that already worked.",
    ),
    (
        "process",
        "Keep three parts separate: constructing initial layouts, optimising them, and repairing "
        "the result. In the seed programs only the code between the EVOLVE-BLOCK markers may "
        "change; construct_packing always passes its result through make_feasible, so a new "
        "optimiser cannot make the packing invalid, only better or worse.",
    ),
    (
        "process",
        "The evaluation has a wall-clock limit (60 s by default) on a single core, and a "
        "program that times out scores nothing. Bound the search by a count of starts or "
        "iterations that finishes well inside the limit, rather than by a deadline close to it; "
        "a fixed count also makes the score reproducible across machines.",
    ),
    (
        "geometry",
        "Start from structurally different layouts rather than uniform random centres: "
        "staggered rows with different row counts (for n = 26, rows of 5-6-5-5-5 or "
        "4-5-4-5-4-4), rings around a central circle, or a border of large circles with small "
        "ones inside. Random centres begin with many overlaps; distinct structures end in "
        "distinct arrangements, which is where the differences in score come from.",
    ),
    (
        "optimisation",
        "Relocate the smallest circle: after optimising, remove it, put it at the point of the "
        "square farthest from every circle and wall (search a fine grid, or the vertices of the "
        "Voronoi diagram of the centres), and optimise again. Such a move changes which circles "
        "touch which, something local optimisation from the same arrangement cannot do.",
    ),
    (
        "optimisation",
        "scipy.optimize.basinhopping automates perturb-and-reoptimise: it displaces the "
        "variables at random, runs a local minimiser (minimizer_kwargs with method='SLSQP' and "
        "the constraints) and accepts or rejects the result with a Metropolis test. Set niter "
        "and a stepsize near the typical radius explicitly, and fix its random seed, so it fits "
        "the time limit and gives the same result every time.",
    ),
    (
        "optimisation",
        "Vectorise the geometry with numpy: pairwise differences by broadcasting "
        "(x[:, None] - x[None, :]) or index arrays from np.triu_indices, constraint values and "
        "Jacobians as whole arrays. Python loops over the n(n-1)/2 pairs inside an objective or "
        "constraint function slow down every solver iteration and leave fewer restarts within "
        "the time limit.",
    ),
    (
        "process",
        "Read the metrics, not only the score. worst_violation and num_violations say how far "
        "an invalid packing is from valid (a repair problem, not an optimisation one); "
        "boundary_fraction and num_distinct_radii describe the arrangement, so a new score with "
        "the same values usually means the same arrangement polished further, while changed "
        "values mean a different arrangement was found.",
    ),
    (
        "validator",
        "The evaluator has zero tolerance: it converts every returned float to an exact "
        "fraction and checks x - r >= 0, x + r <= 1, y likewise, r >= 0 and "
        "(xi-xj)^2 + (yi-yj)^2 >= (ri+rj)^2 exactly. An overlap of 1e-15 rejects the whole "
        "packing. Shrink radii by a relative margin of about 1e-12 before returning: it costs "
        "about 1e-11 in score, far below the ~1e-6 gaps between the best published results.",
    ),
    (
        "target",
        "Best known sums: about 2.635983 for n = 26 and 2.939572 for n = 32. A plateau around "
        "2.62-2.63 for n = 26 usually means a poor arrangement (which circles touch which), not "
        "a lack of precision: change or perturb the layout rather than tightening tolerances. "
        "For n = 32 simple perturbation restarts stall near 2.929; better starting structures "
        "are needed to close the gap.",
    ),
)

COGNITION: tuple[CognitionItem, ...] = tuple(
    CognitionItem(content=content, source=SOURCE, metadata={"topic": topic})
    for topic, content in _ITEMS
)
