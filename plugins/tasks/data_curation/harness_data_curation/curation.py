"""The trusted side of a curation: validate what the candidate returned, and measure it.

A curated corpus is only used after :func:`read_curated` accepted it: every id from the
input, at most once, text a string no longer than ``max_growth`` times its raw text (plus
200 characters), the file itself no larger than the input could justify. The diagnostics
compare the kept documents with the hidden labels of the synthetic corpus (absent for a
user's own corpus) so the analyzer can say which problems a strategy missed.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

#: The kinds of raw documents in the synthetic corpus's labels (``clean`` is the signal).
JUNK_KINDS = ("near_dup", "exact_dup", "salad", "off_language", "spam", "garbage",
              "boilerplate_page", "fragment")  # fmt: skip
DAMAGE_KINDS = ("mojibake", "html", "pii", "boilerplate")
#: The kinds that carry a clean article's text (``clean_id`` names the article).
COPIES = ("clean", "near_dup", "exact_dup")


class CurationError(ValueError):
    """The candidate's output breaks the contract; the message says where."""


def read_curated(path: Path, raw: dict[int, str], max_growth: float) -> dict[int, str]:
    """The kept documents ``{id: text}`` of ``path``, or CurationError naming the first fault."""
    if not path.is_file():
        raise CurationError("the curation wrote no output")
    limit = sum(len(t.encode()) for t in raw.values()) * max_growth + 200 * len(raw) + 4096
    if path.stat().st_size > limit * 2:
        raise CurationError(f"the output is {path.stat().st_size} bytes, far more than the input")
    kept: dict[int, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CurationError(f"the output is not UTF-8: {exc}") from None
    # split on "\n" alone: a text may hold U+2028, which splitlines() would cut at
    lines = text.removesuffix("\n").split("\n") if text else []
    for number, line in enumerate(lines, 1):
        ident, doc = _doc(line, number)
        if ident not in raw:
            raise CurationError(f"document {number} has id {ident}, which was not in the input")
        if ident in kept:
            raise CurationError(f"id {ident} is returned twice")
        if len(doc) > len(raw[ident]) * max_growth + 200:
            raise CurationError(
                f"id {ident}: the rewritten text has {len(doc)} characters, more than "
                f"{max_growth} x its raw {len(raw[ident])} + 200"
            )
        kept[ident] = doc
    if not kept or not any(text.strip() for text in kept.values()):
        raise CurationError("the curation kept no documents (or only empty ones)")
    return kept


def _doc(line: str, number: int) -> tuple[int, str]:
    try:
        doc = json.loads(line)
    except ValueError as exc:
        raise CurationError(f"output line {number} is not JSON: {exc}") from None
    ident = doc.get("id") if isinstance(doc, dict) else None
    text = doc.get("text") if isinstance(doc, dict) else None
    if not isinstance(ident, int) or isinstance(ident, bool) or not isinstance(text, str):
        raise CurationError(f"output line {number} is not a document with an int id and a str text")
    return ident, text


def shape(kept: dict[int, str], raw: dict[int, str]) -> dict[str, float]:
    """What a curation did, whatever the corpus: the MAP-Elites axes among them."""
    rewritten = sum(1 for ident, text in kept.items() if text != raw[ident])
    dropped = len(raw) - len(kept)
    return {
        "docs_in": len(raw),
        "docs_kept": len(kept),
        "fraction_kept": len(kept) / len(raw),
        "chars_kept": sum(len(t) for t in kept.values())
        / max(1, sum(len(t) for t in raw.values())),
        "rewritten": rewritten,
        "dropped": dropped,
        "rewrite_ratio": rewritten / (rewritten + dropped) if rewritten + dropped else 0.0,
    }


def diagnostics(kept: dict[int, str], labels: dict[int, dict[str, Any]]) -> dict[str, float]:
    """Against the hidden labels of the documents in ``labels``.

    ``clean_recall``: clean articles that survive in any copy (the clean document or one of
    its exact or near duplicates: which copy a deduplicator keeps is its choice);
    ``redundant_kept``: duplicates kept beyond one copy per article, over all duplicates;
    ``junk_kept``: the other junk documents kept; ``kept_<kind>`` per kind; ``<damage>_left``:
    kept documents that still hold a string injected by that damage, over those kept that had it.
    """
    kinds = Counter(label["kind"] for label in labels.values())
    kept_kinds = Counter(labels[ident]["kind"] for ident in kept if ident in labels)
    copies = [labels[i]["clean_id"] for i in kept if labels.get(i, {}).get("kind") in COPIES]
    articles = {label["clean_id"] for label in labels.values() if label["kind"] == "clean"}
    found: dict[str, float] = {}
    if articles:
        found["clean_recall"] = len(set(copies) & articles) / len(articles)
    duplicates = kinds["near_dup"] + kinds["exact_dup"]
    if duplicates:
        found["redundant_kept"] = (len(copies) - len(set(copies))) / duplicates
    junk = sum(kinds[k] for k in JUNK_KINDS if k not in COPIES)
    if junk:
        found["junk_kept"] = sum(kept_kinds[k] for k in JUNK_KINDS if k not in COPIES) / junk
    for kind in JUNK_KINDS:
        if kinds[kind]:
            found[f"kept_{kind}"] = kept_kinds[kind] / kinds[kind]
    found.update(quality(kept, labels))
    for damage in DAMAGE_KINDS:
        damaged = [i for i in kept if labels.get(i, {}).get("damage", {}).get(damage)]
        if damaged:
            left = sum(1 for i in damaged
                       if any(s in kept[i] for s in labels[i]["damage"][damage]))  # fmt: skip
            found[f"{damage}_left"] = left / len(damaged)
    return {key: round(value, 4) for key, value in found.items()}


def quality(kept: dict[int, str], labels: dict[int, dict[str, Any]]) -> dict[str, float]:
    """The curation judged against the hidden labels alone, as the paper's analyzer judged
    (original, cleaned) pairs: ``clean_coverage``, the mean over clean articles of the
    longest kept copy's length over the clean text's (capped at 1: a truncated article counts
    in part); ``junk_share``, the characters kept from junk documents and from redundant
    copies (all but the longest of an article) over all characters kept; ``quality`` =
    coverage - junk share (1 for the clean oracle). A clean document's label carries its clean
    text's length as ``clean_chars``. Deterministic: no model is trained."""
    longest: dict[int, int] = {}
    junk = total = 0
    for ident, text in kept.items():
        label = labels.get(ident)
        if label is None:
            continue
        total += len(text)
        if label["kind"] in COPIES:
            article = label["clean_id"]
            junk += min(len(text), longest.get(article, 0))
            longest[article] = max(longest.get(article, 0), len(text))
        else:
            junk += len(text)
    articles = [i for i, label in labels.items() if label["kind"] == "clean"]
    if not articles:
        return {}
    coverage = sum(min(1.0, longest.get(i, 0) / max(1, labels[i]["clean_chars"])) for i in articles)
    found = {"clean_coverage": coverage / len(articles), "junk_share": junk / max(1, total)}
    found["quality"] = found["clean_coverage"] - found["junk_share"]
    return found


def summary(found: dict[str, float]) -> str:
    """One line of the label diagnostics, for the feedback."""
    if "clean_recall" not in found:
        return "no hidden labels (a user corpus): no label diagnostics"
    junk = ", ".join(f"{k} {found[f'kept_{k}']:.2f}" for k in JUNK_KINDS if f"kept_{k}" in found)
    left = ", ".join(f"{d} {found[f'{d}_left']:.2f}" for d in DAMAGE_KINDS if f"{d}_left" in found)
    return (
        f"clean articles kept {found['clean_recall']:.3f}, redundant duplicates kept "
        f"{found.get('redundant_kept', 0):.3f}; other junk kept {found.get('junk_kept', 0):.3f} "
        f"(by kind: {junk}); damage left in kept docs: "
        f"{left or 'none damaged kept'}"
    )
