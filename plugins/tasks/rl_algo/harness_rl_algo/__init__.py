"""GRPO advantage/loss search for harness: sandboxed contract checks and a CPU proxy policy."""

__version__ = "0.1.0"
