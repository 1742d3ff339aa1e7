"""Detection: local maxima above a threshold, the highest kept first, none closer than a
minimum distance to a kept one."""

#: Height a maximum must exceed (in the units of the smoothed, baseline-free signal).
THRESHOLD = 0.3
#: Smallest distance, in samples, between two reported peaks.
MIN_DISTANCE = 2.0


def detect(values):
    candidates = [
        i
        for i in range(1, len(values) - 1)
        if values[i] > THRESHOLD and values[i] >= values[i - 1] and values[i] > values[i + 1]
    ]
    kept = []
    for i in sorted(candidates, key=lambda i: -values[i]):
        if all(abs(i - j) >= MIN_DISTANCE for j in kept):
            kept.append(i)
    return sorted(kept)
