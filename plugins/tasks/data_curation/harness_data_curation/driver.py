"""The curation driver: calls a candidate's ``curate`` on the documents in its work dir.

The evaluator (``plugin.py``) sends this file's source into the sandbox next to the
candidate, so ``curate`` only ever runs in the sandboxed child. The child sees only
``docs.jsonl`` (``id``, ``text``, ``category`` of each raw document); it writes the kept
documents to ``curated.jsonl``, which the evaluator validates and uses. The hidden labels,
the held-out text and the trained models live in folders the sandbox hides. The report
returned here is untrusted (the candidate runs in this process): it only carries the
per-category probe, a behaviour descriptor, never anything the score is computed from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

INPUT, PROBE, OUTPUT = "docs.jsonl", "probe.jsonl", "curated.jsonl"


class CandidateFault(Exception):
    """The candidate broke the contract; ``error_class`` says how."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class


def _curate(namespace: dict[str, Any]) -> Callable[..., Any]:
    fn = namespace.get("curate")
    if not callable(fn):
        raise CandidateFault("contract", "the program must define a function curate(docs)")
    return fn


def _kept(value: Any) -> list[tuple[int, str]]:
    """The candidate's return value as (id, text) pairs, or a fault naming the first problem."""
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        raise CandidateFault(
            "contract", f"curate must return a list of documents, got {type(value).__name__}"
        )
    pairs = []
    for number, doc in enumerate(value):
        if not isinstance(doc, dict):
            raise CandidateFault(
                "contract", f"document {number} of the result is a {type(doc).__name__}, not a dict"
            )
        ident, text = doc.get("id"), doc.get("text")
        if not isinstance(ident, int) or isinstance(ident, bool) or not isinstance(text, str):
            raise CandidateFault(
                "contract",
                f"document {number} of the result needs an int 'id' and a str 'text', got "
                f"id={ident!r:.40} text={type(text).__name__}",
            )
        pairs.append((ident, text))
    return pairs


def _signature(pairs: list[tuple[int, str]]) -> str:
    data = json.dumps(sorted(pairs), ensure_ascii=False).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def evaluate(stage: str, settings: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    """Run ``curate`` on ``docs.jsonl`` and write ``curated.jsonl``; then run it on the
    documents of ``probe.jsonl`` once under each category of ``settings['categories']`` (the
    same texts, only the label changed) to see how many distinct strategies it has."""
    try:
        curate = _curate(namespace)
        with open(INPUT, encoding="utf-8") as handle:
            docs = [json.loads(line) for line in handle]
        pairs = _kept(curate([dict(doc) for doc in docs]))
        with open(OUTPUT, "w", encoding="utf-8") as handle:
            for ident, text in pairs:
                handle.write(json.dumps({"id": ident, "text": text}, ensure_ascii=False) + "\n")
        with open(PROBE, encoding="utf-8") as handle:
            probe = [json.loads(line) for line in handle]
        signatures = {
            category: _signature(_kept(curate([{**doc, "category": category} for doc in probe])))
            for category in settings["categories"]
        }
        return {"docs_in": len(docs), "docs_out": len(pairs), "probe": signatures}
    except CandidateFault as fault:
        return {"failure": {"error_class": fault.error_class, "message": str(fault)}}
