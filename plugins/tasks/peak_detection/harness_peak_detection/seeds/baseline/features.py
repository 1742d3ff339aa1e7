"""Baseline removal: subtract a centred moving average, so a slow drift does not lift
noise above the detection threshold. Only the EVOLVE-BLOCK is meant to change."""

# EVOLVE-BLOCK-START
#: Half-width, in samples, of the moving average taken as the baseline.
WINDOW = 8.0
# EVOLVE-BLOCK-END


def remove_baseline(values):
    half = max(1, int(WINDOW))
    sums = [0.0]
    for value in values:
        sums.append(sums[-1] + value)
    out = []
    for i, value in enumerate(values):
        lo, hi = max(0, i - half), min(len(values), i + half + 1)
        out.append(value - (sums[hi] - sums[lo]) / (hi - lo))
    return out
