"""Samplers choose the context nodes (parent first, then references) of each round."""
