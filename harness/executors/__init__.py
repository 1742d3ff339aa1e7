"""Executors run evaluations outside the orchestrator process."""
