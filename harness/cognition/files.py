"""Cognition items from and to files: Markdown, JSON Lines and plain text.

What researchers already have is notes: a Markdown list of tricks, a paper summary with
one section per idea, a JSONL export of another run. Each becomes items with its source
kept (the file name, plus the section heading for Markdown), so a retrieved item can
always be traced back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from harness.task import CognitionItem

FORMATS = ("md", "jsonl", "text")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)(?:[-*+]|\d+[.)])\s+(.*)$")


def guess_format(path: Path) -> str:
    """The format for a file name: ``.md``/``.markdown``, ``.jsonl``/``.json``, else text."""
    suffix = path.suffix.lower()
    if suffix in (".md", ".markdown"):
        return "md"
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    return "text"


def read_items(
    path: Path, fmt: str | None = None, source: str | None = None
) -> list[CognitionItem]:
    """The items in ``path``; ``source`` (default: the file name) is kept with each."""
    fmt = fmt or guess_format(path)
    if fmt not in FORMATS:
        raise ValueError(f"unknown cognition file format {fmt!r}; formats: {list(FORMATS)}")
    text = path.read_text(encoding="utf-8")
    origin = source or path.name
    if fmt == "jsonl":
        return list(_jsonl(text, origin, path))
    if fmt == "md":
        return list(_markdown(text, origin))
    return [
        CognitionItem(" ".join(block.split()), origin)
        for block in re.split(r"\n\s*\n", text)
        if block.strip()
    ]


def _jsonl(text: str, origin: str, path: Path) -> Iterable[CognitionItem]:
    """One JSON object per line: ``content`` (required), ``source``, ``metadata``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON: {exc.msg}") from exc
        if isinstance(record, str):
            record = {"content": record}
        if not isinstance(record, dict) or not str(record.get("content") or "").strip():
            raise ValueError(f'{path}:{number}: expected {{"content": "...", ...}}')
        metadata = record.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise ValueError(f"{path}:{number}: metadata must be an object")
        yield CognitionItem(
            str(record["content"]).strip(), str(record.get("source") or origin), metadata
        )


def _markdown(text: str, origin: str) -> Iterable[CognitionItem]:
    """One item per top-level bullet (its sub-bullets and continuation lines joined);
    a section without bullets is one item of its paragraphs. The heading path goes into
    the source (``notes.md > Packing > Corners``)."""
    headings: list[tuple[int, str]] = []
    bullets: list[str] = []
    paragraph: list[str] = []
    in_fence = False

    def flush() -> Iterable[CognitionItem]:
        where = " > ".join([origin, *(title for _, title in headings)])
        items = bullets or ([" ".join(paragraph)] if paragraph else [])
        for item in items:
            content = " ".join(item.split())
            if content:
                yield CognitionItem(content, where)
        bullets.clear()
        paragraph.clear()

    for line in text.splitlines():
        if line.strip().startswith("```"):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(line)
        if heading:
            yield from flush()
            level = len(heading.group(1))
            while headings and headings[-1][0] >= level:
                headings.pop()
            headings.append((level, heading.group(2)))
            continue
        bullet = None if in_fence else _BULLET.match(line)
        if bullet and not bullet.group(1):
            bullets.append(bullet.group(2))
        elif line.strip() and bullets:
            bullets[-1] += " " + (bullet.group(2) if bullet else line.strip())
        elif line.strip():
            paragraph.append(line.strip())
    yield from flush()


def write_items(items: Iterable[tuple[int, CognitionItem]], fmt: str) -> str:
    """Items as JSON Lines (``id``, ``content``, ``source``, ``metadata``: re-importable)
    or as a Markdown list with each item's source."""
    if fmt == "jsonl":
        return "".join(
            json.dumps(
                {"id": i, "content": it.content, "source": it.source, "metadata": it.metadata},
                ensure_ascii=False,
            )
            + "\n"
            for i, it in items
        )
    if fmt == "md":
        return "".join(
            f"- {it.content}" + (f" (source: {it.source})" if it.source else "") + "\n"
            for _, it in items
        )
    raise ValueError(f"cannot export as {fmt!r}; formats: ['jsonl', 'md']")
