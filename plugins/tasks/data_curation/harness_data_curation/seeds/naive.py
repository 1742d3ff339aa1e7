"""Naive curator: a length gate, an alphabetic-ratio gate and exact deduplication.

Contract: ``curate(docs)`` gets every raw document as ``{"id", "text", "category"}`` and
returns the documents to keep as ``{"id", "text"}`` (each input id at most once, text
unchanged or rewritten; a dropped document is simply absent). Standard library only.

Strategy: keep a document when it has at least ``MIN_CHARS`` characters, when letters make
up at least ``MIN_ALPHA_RATIO`` of its non-whitespace characters, and when its exact text
has not been kept before. The same rule applies to every category and no text is rewritten.

What it misses: markup, mojibake, boilerplate and PII lines inside documents; near
duplicates; off-language text, keyword spam and fluent word salad, which are all mostly
alphabetic. Per-category rules, text cleaning, a stopword (language) gate, repetition
gates and near-duplicate detection are the obvious next steps.
"""

# EVOLVE-BLOCK-START
MIN_CHARS = 200.0  # shorter documents are fragments or stubs
MIN_ALPHA_RATIO = 0.8  # letters / non-whitespace characters


def alpha_ratio(text):
    """Share of letters among the non-whitespace characters (0 for an empty text)."""
    visible = [ch for ch in text if not ch.isspace()]
    if not visible:
        return 0.0
    return sum(ch.isalpha() for ch in visible) / len(visible)


def curate(docs):
    seen = set()
    kept = []
    for doc in docs:
        text = doc["text"]
        if len(text) < MIN_CHARS or alpha_ratio(text) < MIN_ALPHA_RATIO or text in seen:
            continue
        seen.add(text)
        kept.append({"id": doc["id"], "text": text})
    return kept


# EVOLVE-BLOCK-END
