"""lm-eval multiple-choice items built from held-out sentences (domain-data.md §2.4 "Tasks").

Both tasks are length-controlled, so length alone cannot pick the answer (§2.6):

- ``dc_order``: minimal pairs. The corrupted ending swaps two adjacent words and replaces one
  other word by a different word of the same length, so both choices have exactly equal length.
  Context = the words before the first changed word (never empty: changes start at word >= 1).
- ``dc_cloze``: 4-way. Context = the first ~40-60 % of the words of a held-out first sentence;
  the choices are its true rest plus the 3 rests (second parts of held-out sentences of other
  docs, split the same way) whose character lengths are closest to the true rest; with ~1,500
  candidate rests nearly all have exactly its length (mean gap 0.04 chars for the default
  build, reported as ``stats["tasks"]["dc_cloze"]["mean_len_gap"]``).

Every choice starts with a space (lm-eval ``target_delimiter`` is ""); the label position is
drawn from the seeded RNG.
"""

from __future__ import annotations

import random
import re
from typing import Any

_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"\u201c(])|\n+")


def sentences(text: str) -> list[str]:
    """Sentences of a doc, split after . ! ? before a capital, and at newlines."""
    return [s.strip() for s in _SPLIT.split(text) if s and s.strip()]


def _vocab_by_length(texts: list[str]) -> dict[int, list[str]]:
    """Lowercase alphabetic words of the texts, grouped by length, sorted."""
    words = sorted({w for t in texts for w in t.split() if w.isalpha() and w.islower()})
    by_len: dict[int, list[str]] = {}
    for w in words:
        by_len.setdefault(len(w), []).append(w)
    return by_len


def _order_item(
    words: list[str], vocab: dict[int, list[str]], rng: random.Random
) -> dict[str, Any] | None:
    """One minimal pair from a sentence's words, or None when it has no usable positions."""
    swaps = [
        i
        for i in range(1, len(words) - 1)
        if words[i].isalpha() and words[i + 1].isalpha() and words[i] != words[i + 1]
    ]
    if not swaps:
        return None
    i = rng.choice(swaps)
    reps = [
        j
        for j in range(1, len(words))
        if j not in (i, i + 1)
        and words[j].isalpha()
        and words[j].islower()
        and len(vocab.get(len(words[j]), [])) > 1
    ]
    if not reps:
        return None
    j = rng.choice(reps)
    bad = list(words)
    bad[i], bad[i + 1] = bad[i + 1], bad[i]
    bad[j] = rng.choice([w for w in vocab[len(words[j])] if w != words[j]])
    first = min(i, j)
    good_end, bad_end = " " + " ".join(words[first:]), " " + " ".join(bad[first:])
    label = rng.randrange(2)
    choices = [bad_end, good_end] if label else [good_end, bad_end]
    return {"context": " ".join(words[:first]), "choices": choices, "label": label}


def build_order(
    docs: list[str], n_items: int, rng: random.Random, skip_first: bool = True
) -> list[dict[str, Any]]:
    """``n_items`` dc_order items from distinct sentences (first sentences go last)."""
    vocab = _vocab_by_length(docs)
    split = [sentences(d) for d in docs]
    pool = [s for ss in split for s in ss[1 if skip_first else 0 :]]
    rng.shuffle(pool)
    firsts = [ss[0] for ss in split if ss]
    rng.shuffle(firsts)
    items: list[dict[str, Any]] = []
    for sent in pool + (firsts if skip_first else []):
        words = sent.split(" ")
        if len(items) >= n_items or not 6 <= len(words) <= 45:
            continue
        item = _order_item(words, vocab, rng)
        if item is not None:
            items.append(item)
    return items


def _split_rest(sent: str, rng: random.Random) -> tuple[str, str] | None:
    """(context, " " + rest) at a word boundary 40-60 % into the sentence, or None."""
    words = sent.split(" ")
    if not 6 <= len(words) <= 60:
        return None
    k = min(max(round(len(words) * rng.uniform(0.4, 0.6)), 2), len(words) - 2)
    return " ".join(words[:k]), " " + " ".join(words[k:])


def build_cloze(
    docs: list[str], n_items: int, rng: random.Random
) -> tuple[list[dict[str, Any]], float]:
    """``n_items`` 4-way cloze items and the mean |len(distractor) - len(true rest)|."""
    pool: list[tuple[int, str]] = []
    firsts: list[tuple[int, str, str]] = []
    for d, text in enumerate(docs):
        for k, sent in enumerate(sentences(text)):
            parts = _split_rest(sent, rng)
            if parts is None:
                continue
            pool.append((d, parts[1]))
            if k == 0:
                firsts.append((d, parts[0], parts[1]))
    rng.shuffle(pool)
    rng.shuffle(firsts)
    items: list[dict[str, Any]] = []
    gaps: list[int] = []
    for d, context, rest in firsts[:n_items]:
        ranked = sorted(
            ((abs(len(r) - len(rest)), r) for dd, r in pool if dd != d and r != rest),
            key=lambda x: x[0],
        )
        distractors: list[str] = []
        for gap, r in ranked:
            if r not in distractors:
                distractors.append(r)
                gaps.append(gap)
            if len(distractors) == 3:
                break
        if len(distractors) < 3:
            continue
        label = rng.randrange(4)
        choices = distractors[:label] + [rest] + distractors[label:]
        items.append({"context": context, "choices": choices, "label": label})
    return items, (sum(gaps) / len(gaps) if gaps else 0.0)


def length_bias(items: list[dict[str, Any]]) -> dict[str, float]:
    """How often the shortest choice is the answer (first index on ties; and strictly)."""
    if not items:
        return {"shortest_correct": 0.0, "strictly_shortest_correct": 0.0}
    first_min = strict = 0
    for it in items:
        lens = [len(c) for c in it["choices"]]
        first_min += lens.index(min(lens)) == it["label"]
        others = lens[: it["label"]] + lens[it["label"] + 1 :]
        strict += lens[it["label"]] < min(others)
    return {
        "shortest_correct": first_min / len(items),
        "strictly_shortest_correct": strict / len(items),
    }


def build_tasks(
    heldout: list[str], settings: dict[str, Any], seed: int
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Both task files' items and their stats."""
    order = build_order(heldout, settings["order_items"], random.Random(f"{seed}:dc_order"))
    cloze, gap = build_cloze(heldout, settings["cloze_items"], random.Random(f"{seed}:dc_cloze"))
    stats = {
        "dc_order": {"items": len(order), **length_bias(order)},
        "dc_cloze": {"items": len(cloze), "mean_len_gap": round(gap, 4), **length_bias(cloze)},
    }
    return {"dc_order": order, "dc_cloze": cloze}, stats
