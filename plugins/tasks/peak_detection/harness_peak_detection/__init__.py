"""Peak detection for harness: a multi-file program whose modules must cooperate to score."""

__version__ = "0.1.0"
