"""The paper's LLM judge: rate (original, cleaned) document pairs from 1 to 10.

Optional and off by default (``task.judge.model`` unset), so offline runs never call out.
With a model set, ``pairs`` random raw documents of the curation are shown with what the
candidate made of them (a rewritten text, the same text, or "dropped") to an
OpenAI-compatible endpoint, which rates *coverage* (were the document's problems handled:
markup, broken encoding, boilerplate, personal data, junk) and *executability* (is the
result usable training text with the original's content intact). The ratings are metrics
for the analyzer, not part of the score: a judge is slower, costs money and is itself noisy.
"""

from __future__ import annotations

import json
import os
import random
import re
from typing import Any

PROMPT = """You review one step of a pretraining-data cleaning pipeline.

ORIGINAL document:
<<<
{original}
>>>

CLEANED result ({what}):
<<<
{cleaned}
>>>

Rate from 1 to 10:
- coverage: how completely the cleaning handled this document's problems (HTML or markup,
  broken encoding, navigation or cookie boilerplate, personal data such as e-mails or phone
  numbers, spam, gibberish, other languages, duplicates). Dropping pure junk is full coverage.
- executability: whether the result is usable training text: readable, the original's real
  content intact, nothing broken or invented by the cleaning. A correctly dropped junk
  document scores 10; a dropped good document scores 1.
Answer with JSON only: {{"coverage": <1-10>, "executability": <1-10>}}"""

CLIP = 1500


def _rating(text: str) -> tuple[int, int] | None:
    match = re.search(r"\{.*?\}", text, re.S)
    try:
        data = json.loads(match.group(0)) if match else None
        pair = (int(data["coverage"]), int(data["executability"]))
    except (ValueError, TypeError, KeyError):
        return None
    return pair if all(1 <= value <= 10 for value in pair) else None


def judge(
    conf: dict[str, Any], raw: dict[int, str], kept: dict[int, str], seed: int
) -> dict[str, float]:
    """Mean ratings over ``conf['pairs']`` random documents of ``raw`` (fixed by ``seed``),
    with ``judge_errors`` the number of calls that gave no usable rating."""
    import openai

    client = openai.OpenAI(base_url=conf.get("base_url"), api_key=os.environ.get(
        conf["api_key_env"], "unset"), timeout=float(conf["timeout_s"]), max_retries=1)  # fmt: skip
    ids = sorted(raw)
    chosen = random.Random(seed).sample(ids, min(int(conf["pairs"]), len(ids)))
    ratings, errors = [], 0
    for ident in chosen:
        cleaned = kept.get(ident)
        what = "dropped" if cleaned is None else "kept unchanged" if cleaned == raw[ident] else (
            "rewritten")  # fmt: skip
        shown = "(dropped)" if cleaned is None else cleaned[:CLIP]
        prompt = PROMPT.format(original=raw[ident][:CLIP], what=what, cleaned=shown)
        try:
            reply = client.chat.completions.create(
                model=conf["model"], messages=[{"role": "user", "content": prompt}]
            )
            rating = _rating(reply.choices[0].message.content or "")
        except (openai.OpenAIError, ValueError):  # a malformed body raises JSONDecodeError
            rating = None
        if rating is None:
            errors += 1
        else:
            ratings.append(rating)
    found: dict[str, float] = {"judge_pairs": len(ratings), "judge_errors": errors}
    if ratings:
        found["judge_coverage"] = sum(r[0] for r in ratings) / len(ratings)
        found["judge_executability"] = sum(r[1] for r in ratings) / len(ratings)
    return found
