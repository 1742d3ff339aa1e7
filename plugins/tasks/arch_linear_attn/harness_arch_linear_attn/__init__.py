"""Linear-attention layer search for harness: a sandboxed sanity cascade and a CPU proxy LM."""

__version__ = "0.1.0"
