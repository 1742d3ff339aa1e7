"""Each page's context (from the stores) and its rendering, shared by serve and report.

Links differ between the two (URLs on the server, fragments in the report file), so the
templates build every link through a ``links`` object; everything else is the same.
"""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import jinja2

from harness import db as store
from harness.web import queries, stores

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

#: Rows of the run page's node table per page on the server.
PAGE_ROWS = 200


class Links(Protocol):
    #: The served folder's name, which its own key ``.`` is shown as.
    root_name: str

    def runs(self) -> str: ...
    def run(self, key: str) -> str: ...
    def node(self, key: str, node_id: int) -> str: ...
    def curves(self, key: str) -> str: ...
    def sweep(self, key: str) -> str: ...
    def api(self, key: str) -> str: ...


#: The root's own key, ``.``, in a URL: browsers drop a ``.`` path segment (``%2E`` too).
ROOT_IN_URL = "_"


def url_key(key: str) -> str:
    """A key as written in a URL: quoted, and the root's ``.`` as ``_`` (when the root is a
    run directory it is the only run, so nothing else can be called ``_``)."""
    return ROOT_IN_URL if key == "." else quote(key)


@jinja2.pass_context
def label(context: jinja2.runtime.Context, key: str) -> str:
    """A key as shown: the served folder's own ``.`` by the folder's name."""
    if key != ".":
        return key
    return getattr(context.get("links"), "root_name", "") or "."


class ServeLinks:
    """The server's URLs."""

    def __init__(self, root_name: str = "") -> None:
        self.root_name = root_name

    def runs(self) -> str:
        return "/"

    def run(self, key: str) -> str:
        return f"/run/{url_key(key)}/"

    def node(self, key: str, node_id: int) -> str:
        return f"/run/{url_key(key)}/node/{node_id}"

    def curves(self, key: str) -> str:
        return f"/run/{url_key(key)}/curves"

    def sweep(self, key: str) -> str:
        return f"/sweep/{url_key(key)}/"

    def api(self, key: str) -> str:
        """Where the live pages poll (the report has no such place)."""
        return f"/api/run/{url_key(key)}/"


def number(value: Any) -> str:
    """A score or metric as shown: 6 significant digits; blank when missing."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def usd(value: float | None) -> str:
    return "" if value is None else f"${value:.4f}"


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = number
    env.filters["usd"] = usd
    env.filters["label"] = label
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def _row(key: str, run_dir: Path) -> dict[str, Any]:
    """One line of the runs list; an unreadable store shows as such instead of failing."""
    try:
        with stores.reading(run_dir) as db:
            return {"key": key, **queries.summary(db)}
    except (store.StoreError, sqlite3.Error) as exc:
        return {"key": key, "status": "unreadable", "error": str(exc), "task": None,
                "evaluated": None, "best_score": None}  # fmt: skip


def runs_page(served: stores.Served) -> dict[str, Any]:
    return {
        "page": "runs",
        "title": f"harness: {served.root}",
        "root": str(served.root),
        "runs": [_row(key, run_dir) for key, run_dir in served.runs.items()],
        "sweeps": [{"key": k, "runs": len(v)} for k, v in served.sweeps.items()],
    }


def run_page(db: Any, key: str, offset: int = 0, limit: int | None = PAGE_ROWS) -> dict[str, Any]:
    summary = queries.summary(db)
    data = queries.tree(db)
    by_id = {node["id"]: node for node in data["nodes"]}
    return {
        "page": "run",
        "title": f"run {key}",
        "key": key,
        "summary": summary,
        "tree": data,
        "best_steps": [by_id[node_id] for node_id in data["best_path"]],
        "nodes": queries.node_list(db, offset, limit),
        "meta": queries.meta_versions(db),
        "offset": offset,
        "limit": limit,
    }


def node_page(db: Any, key: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "page": "node",
        "title": f"node {detail['node']['id']} of {key}",
        "key": key,
        **detail,
    }


def curves_page(db: Any, key: str) -> dict[str, Any]:
    return {"page": "curves", "title": f"curves of {key}", "key": key, "curves": queries.curves(db)}


def sweep_page(served: stores.Served, key: str) -> dict[str, Any]:
    members = served.sweep(key)
    return {
        "page": "sweep",
        "title": f"sweep {key}",
        "key": key,
        "sweep": queries.sweep({k: served.runs[k] for k in members}),
    }
