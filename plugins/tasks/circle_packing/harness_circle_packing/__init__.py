"""Circle packing for harness: n circles in the unit square, exact zero-slack validation."""

__version__ = "0.1.0"
