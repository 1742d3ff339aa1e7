"""``harness serve``'s Starlette app: the pages and the JSON the live pages poll.

GET only (any other method is 405); each request scans the served root (runs appear while
it runs) and opens the store it needs read-only (:mod:`.stores`). A key that is not one of
the runs found is a 404, so no URL reaches a file outside the runs.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlite_utils
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from harness import db as store
from harness.web import pages, queries, stores


def _key(request: Request) -> str:
    """The key a URL names (its ``_`` is the root's ``.``, see :func:`pages.url_key`)."""
    key = str(request.path_params["key"])
    return "." if key == pages.ROOT_IN_URL else key


def create_app(root: Path, refresh_s: float = 2.0) -> Starlette:
    """The app serving the runs under ``root``, live pages polling every ``refresh_s``."""
    links = pages.ServeLinks(root.resolve().name)
    config = {"live": True, "refresh": refresh_s}

    def served() -> stores.Served:
        return stores.scan(root)

    def run_dir(request: Request) -> Path:
        try:
            return served().run(_key(request))
        except stores.NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc

    @contextlib.contextmanager
    def reading(request: Request) -> Iterator[sqlite_utils.Database]:
        try:
            db = stores.connect(run_dir(request))
        except (store.StoreError, sqlite3.Error) as exc:
            raise HTTPException(503, f"cannot read the run store: {exc}") from exc
        try:
            yield db
        except sqlite3.Error as exc:  # e.g. a store still being created: no tables yet
            raise HTTPException(503, f"cannot read the run store: {exc}") from exc
        finally:
            db.close()

    def html(context: dict[str, Any]) -> HTMLResponse:
        return HTMLResponse(pages.render("page.html.j2", links=links, config=config, **context))

    def runs_list(request: Request) -> Response:
        return html(pages.runs_page(served()))

    def run(request: Request) -> Response:
        try:
            offset = max(0, int(request.query_params.get("offset", 0)))
        except ValueError as exc:
            raise HTTPException(400, "offset must be a whole number") from exc
        with reading(request) as db:
            return html(pages.run_page(db, _key(request), offset))

    def node(request: Request) -> Response:
        with reading(request) as db:
            detail = queries.node_detail(db, int(request.path_params["node"]))
            if detail is None:
                raise HTTPException(404, "no such node")
            return html(pages.node_page(db, _key(request), detail))

    def curves(request: Request) -> Response:
        with reading(request) as db:
            return html(pages.curves_page(db, _key(request)))

    def sweep(request: Request) -> Response:
        try:
            return html(pages.sweep_page(served(), _key(request)))
        except stores.NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc

    def tree_json(request: Request) -> Response:
        with reading(request) as db:
            return JSONResponse(queries.tree(db))

    def curves_json(request: Request) -> Response:
        with reading(request) as db:
            return JSONResponse(queries.curves(db))

    def summary_json(request: Request) -> Response:
        with reading(request) as db:
            return JSONResponse(queries.summary(db))

    def error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        return HTMLResponse(
            pages.render("error.html.j2", links=links, status=exc.status_code, detail=exc.detail),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    get = ["GET"]
    routes = [
        Route("/", runs_list, methods=get),
        Route("/api/run/{key:path}/tree.json", tree_json, methods=get),
        Route("/api/run/{key:path}/curves.json", curves_json, methods=get),
        Route("/api/run/{key:path}/summary.json", summary_json, methods=get),
        Route("/run/{key:path}/node/{node:int}", node, methods=get),
        Route("/run/{key:path}/curves", curves, methods=get),
        Route("/run/{key:path}/", run, methods=get),
        Route("/sweep/{key:path}/", sweep, methods=get),
        Mount("/static", StaticFiles(directory=pages.STATIC), name="static"),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: error})
