"""``harness report``: the served pages in ONE self-contained HTML file.

Each page is rendered with the serve templates into a ``<template>`` element, and the
script shows the one the URL fragment names (``#runs``, ``#run-<n>``, ``#node-<n>-<id>``,
``#curves-<n>``, ``#sweep-<n>``); CSS, JS, plotly.js and the data are inlined, so the file
opens anywhere without a network. The tree is always whole; node pages are written for at
most ``max_nodes`` nodes per run: the best path first, then by score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from harness.compare import NoRunsFoundError
from harness.web import pages, queries, stores

#: Node pages per run in a report unless told otherwise.
MAX_NODES = 500


class ReportLinks:
    """Fragment links: runs by their order in the runs list, sweeps likewise."""

    def __init__(self, served: stores.Served) -> None:
        self.root_name = served.root.resolve().name
        self.runs_index = {key: n for n, key in enumerate(served.runs)}
        self.sweeps_index = {key: n for n, key in enumerate(served.sweeps)}

    def runs(self) -> str:
        return "#runs"

    def run(self, key: str) -> str:
        return f"#run-{self.runs_index[key]}"

    def node(self, key: str, node_id: int | str) -> str:
        return f"#node-{self.runs_index[key]}-{node_id}"

    def curves(self, key: str) -> str:
        return f"#curves-{self.runs_index[key]}"

    def sweep(self, key: str) -> str:
        return f"#sweep-{self.sweeps_index[key]}"

    def api(self, key: str) -> str:
        return ""


@dataclass(frozen=True)
class Section:
    id: str
    page: str
    html: Markup


def detail_ids(tree: dict[str, Any], max_nodes: int) -> list[int]:
    """The nodes that get a page: the best path, then the rest by score (unscored last)."""
    rest = sorted(
        (n for n in tree["nodes"] if n["id"] not in set(tree["best_path"])),
        key=lambda n: (n["score"] is None, -(n["score"] or 0.0), n["id"]),
    )
    return (tree["best_path"] + [n["id"] for n in rest])[:max_nodes]


def _inline(text: str) -> Markup:
    """Script or style text safe to put inside its element (no closing tag in it)."""
    return Markup(re.sub(r"</(script|style)", r"<\\/\1", text, flags=re.IGNORECASE))


def _section(links: ReportLinks, sid: str, template: str, context: dict[str, Any]) -> Section:
    return Section(sid, context["page"], Markup(pages.render(template, links=links, **context)))


def _run_sections(links: ReportLinks, key: str, run_dir: Path, max_nodes: int) -> list[Section]:
    n = links.runs_index[key]
    with stores.reading(run_dir) as db:
        run = pages.run_page(db, key, limit=None)
        found = [
            _section(links, f"run-{n}", "run.html.j2", run),
            _section(links, f"curves-{n}", "curves.html.j2", pages.curves_page(db, key)),
        ]
        children: dict[int, list[int]] = {}
        for node in run["tree"]["nodes"]:  # in id order, as the store lists children
            children.setdefault(node["parent"], []).append(node["id"])
        for node_id in detail_ids(run["tree"], max_nodes):
            detail = queries.node_detail(db, node_id, children.get(node_id, []))
            if detail is not None:
                context = pages.node_page(db, key, detail)
                found.append(_section(links, f"node-{n}-{node_id}", "node.html.j2", context))
    return found


def build(root: Path, max_nodes: int = MAX_NODES) -> str:
    """The report of every run (and sweep) under ``root``, as one HTML document."""
    served = stores.scan(root)
    if not served.runs:
        raise NoRunsFoundError(f"No run directories (with harness.db) found under {root}.")
    links = ReportLinks(served)
    sections = [_section(links, "runs", "runs.html.j2", pages.runs_page(served))]
    for key, run_dir in served.runs.items():
        sections += _run_sections(links, key, run_dir, max_nodes)
    for key, n in links.sweeps_index.items():
        sections.append(
            _section(links, f"sweep-{n}", "sweep.html.j2", pages.sweep_page(served, key))
        )
    start = "run-0" if len(served.runs) == 1 else "runs"
    static = pages.STATIC
    return pages.render(
        "report.html.j2",
        title=f"harness report: {root.name}",
        sections=sections,
        start_page=next(s.page for s in sections if s.id == start),
        max_nodes=max_nodes,
        config={"report": True, "start": start},
        css=_inline((static / "harness.css").read_text()),
        plotly=_inline((static / "vendor" / "plotly-basic.min.js").read_text()),
        js=_inline((static / "harness.js").read_text()),
    )
