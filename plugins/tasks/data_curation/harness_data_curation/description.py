"""The researcher's task text for ``data_curation``, from the training settings."""

from __future__ import annotations

import textwrap
from typing import Any


def describe(cfg: dict[str, Any]) -> str:
    """The researcher's task text."""
    m, t = cfg["model"], cfg["train"]
    tokens = t["steps"] * t["batch_size"] * t["seq_len"]
    tasks = ", ".join([*cfg["benchmarks"]["local"], *cfg["benchmarks"]["named"]])
    proxy = (
        f"Stage 2, proxy: your program curates the whole corpus; a Llama ({m['layers']} "
        f"layers, hidden {m['hidden']}) is trained from scratch on the kept text for a fixed "
        f"budget of {tokens:,} tokens ({t['steps']} steps; documents in one fixed shuffled "
        "order, joined by an end-of-text token; a corpus smaller than the budget is repeated, "
        "so keeping too little costs repetition). It is scored by bits per byte on held-out "
        f"clean documents and by lm-eval multiple-choice accuracy ({tasks}). score = (bits "
        "per byte of the same model trained on the raw corpus - yours) + weight x (your mean "
        "accuracy - raw's), per model seed, averaged: 0 is the raw corpus, higher is better."
    )
    return f"""\
Curate a raw web-like pretraining corpus so that a small language model trained on it learns
more per token: decide, per document, to keep it, rewrite it (strip markup, repair broken
encoding, remove boilerplate and personal data) or drop it (duplicates, spam, machine
garbage, other languages, word salad, fragments). Strategies may differ per category, as in
curation pipelines that treat each source category on its own.

The program must define
  curate(docs: list[dict]) -> list[dict]
    docs: every raw document, {{"id": int, "text": str, "category": str}}; categories are
    people, history, geography, arts, humanities, society, lifestyle, bio_health, science,
    math, tech, misc. Return the documents to keep, {{"id": int, "text": str}}: an id from
    the input (each at most once) with its text, unchanged or rewritten (at most 1.5 x its
    length + 200 characters). Dropped documents are simply absent. Keeping nothing fails.
It runs once on all documents, sandboxed (no network, no files but its input), on one CPU
thread, under a time limit: only the standard library is available; keep it near-linear.

Stage 1, sample: your program on a fixed sample of raw documents: contract, speed, and
diagnostics from hidden labels (clean documents kept, junk kept by kind, markup, mojibake,
personal data and boilerplate left) shown to you as feedback, never to your program.
{textwrap.fill(proxy, 90)}"""
