"""Registers the schemas of the core's own config groups: ``run`` and ``analyzer``."""

from __future__ import annotations

from collections.abc import Callable

from harness.hookspecs import hookimpl


@hookimpl
def harness_register_schemas(register: Callable[[str, str, type], None]) -> None:
    from harness.config import AnalyzerConf, RunConf

    register("run", "default", RunConf)
    for mode in ("auto", "deterministic", "none"):
        register("analyzer", mode, AnalyzerConf)
