"""The glue of the pipeline (read-only): baseline removal, smoothing, then detection.

The evaluator calls ``find_peaks(signals)`` with a list of signals (lists of floats) and
expects, for each, the sorted sample indices of its peaks.
"""

from detect import detect
from features import remove_baseline
from smooth import smooth


def find_peaks(signals):
    return [detect(smooth(remove_baseline(signal))) for signal in signals]
