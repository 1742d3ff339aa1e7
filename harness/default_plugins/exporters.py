"""Registers the built-in trace export formats of ``harness export``: ``jsonl`` and
``parquet`` (docs/export.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.hookspecs import hookimpl


def _jsonl(path: Path) -> Any:
    from harness.export import JsonlExporter

    return JsonlExporter(path)


def _parquet(path: Path) -> Any:
    from harness.export import ParquetExporter

    return ParquetExporter(path)


@hookimpl
def harness_register_exporters(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("jsonl", _jsonl)
    register("parquet", _parquet)
