"""Corpus curation search for harness: a sandboxed curation program, a tiny LM trained on it."""

__version__ = "0.1.0"
