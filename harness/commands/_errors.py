"""How the commands report what the library raises: as click errors, with exit statuses."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click


@contextlib.contextmanager
def usage_errors() -> Iterator[None]:
    """An override the config cannot take is a usage error (exit status 2, with usage)."""
    from harness.composition import OverrideError

    try:
        yield
    except OverrideError as exc:
        raise click.UsageError(str(exc)) from exc
