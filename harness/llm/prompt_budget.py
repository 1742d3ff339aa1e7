"""Fitting a rendered prompt into a character budget by trimming its least useful parts.

Trimming is measured on the rendered text, not on the variables, so the budget holds
whatever a template shows, however often it shows a variable (or whether it shows it at
all). Each trimmable variable is a :class:`Field` with a level; lower levels go first, and
within a level large parts give up more than small ones. A field with a ``short`` form (a
read-only file's outline) is swapped for it before anything at its level is cut.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_OMITTED = "[omitted to fit the prompt budget]"
_CUT = "[... {} characters cut to fit the prompt budget ...]"

Render = Callable[[], tuple[str, str]]
"""Renders the system and user messages from the current field values."""


@dataclass
class Field:
    """A trimmable variable, ``owner[name]``; lower ``level``s are trimmed first, keeping
    the ``head`` or the ``tail`` of the text, after the text is replaced by its ``short``
    form when it has one; a field that must not be ``cut`` is only ever shortened so."""

    owner: dict[str, Any]
    name: str
    level: int
    keep: str = "head"
    short: str | None = None
    cut: bool = True

    @property
    def text(self) -> str:
        return str(self.owner[self.name])

    @text.setter
    def text(self, value: str) -> None:
        self.owner[self.name] = value


def _truncate(text: str, limit: int, keep: str) -> str:
    """Cut ``text`` to about ``limit`` characters with a marker saying how much went."""
    if len(text) <= limit:
        return text
    room = limit - len(_CUT.format(len(text))) - 1
    if room < 40:  # too little left to be useful; later levels absorb the marker's size
        return _OMITTED if len(text) > len(_OMITTED) else text
    marker = _CUT.format(len(text) - room)
    return f"{text[:room]}\n{marker}" if keep == "head" else f"{marker}\n{text[-room:]}"


def _shares(total: int, sizes: list[int]) -> list[int]:
    """Split ``total`` characters fairly: small parts stay whole, large ones share the rest."""
    shares = [0] * len(sizes)
    left = total
    order = sorted(range(len(sizes)), key=sizes.__getitem__)
    for rank, index in enumerate(order):
        shares[index] = min(sizes[index], left // (len(sizes) - rank))
        left -= shares[index]
    return shares


def _shown(render: Render, fields: list[Field]) -> list[int]:
    """How often each field appears in the rendered text (0: not shown, never trimmed), from
    one rendering with every field replaced by a unique token."""
    saved = [field.text for field in fields]
    tokens = [f"\x00{index}\x00" for index in range(len(fields))]
    for field, token in zip(fields, tokens, strict=True):
        field.text = token
    try:
        text = "".join(render())
    finally:
        for field, value in zip(fields, saved, strict=True):
            field.text = value
    return [text.count(token) for token in tokens]


def fit(render: Render, fields: list[Field], budget_chars: int) -> tuple[str, str]:
    """Render, then trim the fields level by level by what the rendered text overflows
    (which fields show is only worked out, by a second rendering, when something must go)."""
    messages = render()
    if sum(map(len, messages)) <= budget_chars:
        return messages
    counts = _shown(render, fields)
    for level in sorted({field.level for field in fields}):
        over = sum(map(len, messages)) - budget_chars
        if over <= 0:
            break
        shown = [(f, n) for f, n in zip(fields, counts, strict=True) if f.level == level and n]
        if not shown:
            continue
        shorter = [f for f, _ in shown if f.short is not None and len(f.short) < len(f.text)]
        if shorter:
            for field in shorter:
                field.text = field.short or ""
            messages = render()
            over = sum(map(len, messages)) - budget_chars
            if over <= 0:
                break
        shown = [(field, count) for field, count in shown if field.cut]
        sizes = [len(field.text) * count for field, count in shown]
        for (field, count), share in zip(
            shown, _shares(max(0, sum(sizes) - over), sizes), strict=True
        ):
            field.text = _truncate(field.text, share // count, field.keep)
        messages = render()
    return messages
