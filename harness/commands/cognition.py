"""``harness cognition``: look into a cognition base, search it, grow it, share it.

A base is a run's (``--run RUN_DIR``: its seed items, written-back lessons and imports)
or, without ``--run``, a task's seed items (``+task=NAME``) in a throw-away store. The
embedder is the run's, or the one named by a ``cognition=...`` override; with neither,
the best installed: the cognition option an installed plugin ships (MiniLM's when
harness-minilm is installed), else the core's default (hashing). Every command says
which embedder it used.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click

from harness.commands._errors import usage_errors


def _fail(message: str) -> NoReturn:
    raise click.ClickException(message)


def split_args(args: tuple[str, ...]) -> tuple[list[str], str]:
    """Hydra overrides (``key=value``, ``+task=NAME``) and the free text around them."""
    from harness.composition import read

    overrides = [arg for arg in args if read(arg) is not None]
    text = " ".join(arg for arg in args if read(arg) is None).strip()
    return overrides, text


@dataclass
class Opened:
    """An open base, the run store it lives in, and the embedder's name (to report)."""

    base: Any
    db: Any
    backend: str


def _recorded_cognition(run_dir: Path) -> dict[str, Any] | None:
    from harness import db as store

    db = store.open_db(run_dir, migrate=False)
    try:
        return store.recorded_section(db, "cognition") or None
    finally:
        db.conn.close()


def _installed_choice() -> list[str]:
    """The override choosing the first cognition option an installed plugin ships (a
    plugin adds one for an embedder better than the core's hashing), or none."""
    from importlib.resources import files

    from harness.confpaths import plugin_conf_packages

    options = sorted(
        path.stem
        for package in plugin_conf_packages()
        for path in (Path(str(files(package))) / "cognition").glob("*.yaml")
    )
    return [f"cognition={options[0]}"] if options else []


def _chosen(overrides: list[str]) -> bool:
    """Whether an override sets the cognition config (``cognition=...``, ``cognition.x=...``)."""
    from harness.composition import parsed

    return any(o.key_or_group.split(".")[0] == "cognition" for o in parsed(overrides))


def _config(run_dir: Path | None, overrides: list[str]) -> tuple[dict[str, Any], Any]:
    """The cognition section to build the base from, and the composed config: the one the
    overrides choose, else the run's recorded one, else the best installed."""
    from harness import db as store
    from harness.composition import check_overrides, compose, section

    recorded = None
    chosen = _chosen(overrides)
    if not chosen and run_dir is not None and (run_dir / store.DB_NAME).exists():
        recorded = _recorded_cognition(run_dir)
    if not chosen and not recorded:
        overrides = [*overrides, *_installed_choice()]
    with usage_errors():
        check_overrides(overrides, require_task=False)
        cfg = compose(overrides)
        return recorded or section(cfg, "cognition"), cfg


@contextlib.contextmanager
def open_base(run_dir: Path | None, overrides: list[str]) -> Iterator[Opened]:
    """The cognition base of ``run_dir`` (created if missing) or, without one, of the
    composed task's seed items in a temporary store."""
    from harness import db as store
    from harness.cognition import make_cognition
    from harness.composition import section
    from harness.tasks import RunError, task_spec

    config, cfg = _config(run_dir, overrides)
    try:
        base = make_cognition(config)
    except (LookupError, ValueError) as exc:
        _fail(str(exc))
    if base is None:
        _fail("cognition is disabled (cognition=none): there is no base to use")
    seeds = []
    if cfg.get("task") is not None:
        try:
            seeds = list(task_spec(section(cfg, "task")).cognition)
        except (RunError, LookupError) as exc:
            _fail(str(exc))
    with contextlib.ExitStack() as stack:
        if run_dir is None:
            run_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cognition-")))
        db = store.open_db(run_dir)
        stack.callback(db.conn.close)
        base.load(db, seeds)
        yield Opened(base, db, base.embedder.name)


run_option = click.option(
    "--run",
    "run_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="A run directory: its cognition base (default: the task's seed items only).",
)
target_option = click.option(
    "--run",
    "run_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The run directory whose base grows (created if missing).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _record(item_id: int, item: Any, score: float | None = None) -> dict[str, Any]:
    record = {"id": item_id, "content": item.content, "source": item.source}
    record["metadata"] = item.metadata
    if score is not None:
        record["score"] = round(score, 4)
    return record


@click.group("cognition")
def cognition_group() -> None:
    """See, search, grow and share cognition bases (docs/cognition.md).

    \b
    harness cognition list +task=circle_packing
    harness cognition search +task=circle_packing "escape a plateau at 2.3"
    harness cognition search --run runs/circle_packing/STAMP "corner circles" -k 8
    harness cognition add --run RUN_DIR "Radii above 0.14 never fit at n=26" --source notes
    harness cognition import --run RUN_DIR notes.md
    harness cognition export --run RUN_DIR --format md > knowledge.md
    """


@cognition_group.command("list", context_settings={"ignore_unknown_options": True})
@run_option
@json_option
@click.option("--kind", help="Only items whose metadata kind is this (e.g. lesson).")
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def list_command(
    run_dir: Path | None, as_json: bool, kind: str | None, overrides: tuple[str, ...]
) -> None:
    """Every item with its id and source."""
    with open_base(run_dir, list(overrides)) as opened:
        rows = [
            _record(i, item)
            for i, item in opened.base.items_with_ids()
            if kind is None or item.metadata.get("kind") == kind
        ]
    if as_json:
        click.echo(json.dumps({"backend": opened.backend, "items": rows}, indent=2))
        return
    for row in rows:
        source = f"  ({row['source']})" if row["source"] else ""
        click.echo(f"[K{row['id']}] {row['content']}{source}")
    click.echo(f"{len(rows)} items", err=True)


@cognition_group.command("search", context_settings={"ignore_unknown_options": True})
@run_option
@json_option
@click.option("-k", "k", type=int, default=5, show_default=True, help="Items to return.")
@click.option("--threshold", type=float, default=0.0, show_default=True, help="Lowest similarity.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def search_command(
    run_dir: Path | None, as_json: bool, k: int, threshold: float, args: tuple[str, ...]
) -> None:
    """Items most similar to QUERY, with their similarity (cosine + weighted TF-IDF)."""
    overrides, query = split_args(args)
    if not query:
        _fail('give a query, e.g. harness cognition search +task=NAME "escape a plateau"')
    with open_base(run_dir, overrides) as opened:
        hits = opened.base.search([query], k=k, threshold=threshold)
    rows = [_record(hit.id, hit.item, hit.similarity) for hit in hits]
    if as_json:
        click.echo(json.dumps({"backend": opened.backend, "query": query, "hits": rows}, indent=2))
        return
    click.echo(f"backend {opened.backend}", err=True)
    for row in rows:
        source = f"  ({row['source']})" if row["source"] else ""
        click.echo(f"{row['score']:.3f}  [K{row['id']}] {row['content']}{source}")
    if not rows:
        click.echo("no items" + (f" with similarity >= {threshold}" if threshold else ""))


@cognition_group.command("add", context_settings={"ignore_unknown_options": True})
@target_option
@click.option("--source", default="harness cognition add", show_default=True)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def add_command(run_dir: Path, source: str, args: tuple[str, ...]) -> None:
    """Add one item (TEXT) to a run's base; a run picks it up when resumed."""
    from harness.task import CognitionItem

    overrides, text = split_args(args)
    if not text:
        _fail("give the item's text")
    with open_base(run_dir, overrides) as opened:
        (item_id,) = opened.base.add(opened.db, [CognitionItem(text, source, {"kind": "manual"})])
    click.echo(f"already present: {text}" if item_id is None else f"added [K{item_id}]")


@cognition_group.command("import", context_settings={"ignore_unknown_options": True})
@target_option
@click.option(
    "--format", "fmt", type=click.Choice(["md", "jsonl", "text"]), help="Default: by suffix."
)
@click.option("--source", help="Source kept with each item (default: the file name).")
@click.option(
    "--dedupe-threshold",
    type=float,
    help="Also skip items at least this similar to one already present.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def import_command(
    run_dir: Path,
    fmt: str | None,
    source: str | None,
    dedupe_threshold: float | None,
    file: Path,
    overrides: tuple[str, ...],
) -> None:
    """Import FILE: Markdown (an item per bullet, or per section without bullets), JSON
    Lines (``content``, ``source``, ``metadata``) or plain text (an item per paragraph)."""
    from harness.cognition.files import read_items

    try:
        items = read_items(file, fmt, source)
    except (ValueError, UnicodeDecodeError) as exc:
        _fail(str(exc))
    with open_base(run_dir, list(overrides)) as opened:
        ids = opened.base.add(opened.db, items, dedupe_threshold=dedupe_threshold)
    added = sum(item_id is not None for item_id in ids)
    click.echo(
        f"imported {added} of {len(items)} items from {file} ({len(items) - added} "
        f"already present or too similar) with {opened.backend}"
    )


@cognition_group.command("export", context_settings={"ignore_unknown_options": True})
@run_option
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "md"]), default="jsonl", show_default=True
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def export_command(
    run_dir: Path | None, fmt: str, output: Path | None, overrides: tuple[str, ...]
) -> None:
    """Write every item with its source and metadata (JSON Lines re-imports as is)."""
    from harness.cognition.files import write_items

    with open_base(run_dir, list(overrides)) as opened:
        text = write_items(opened.base.items_with_ids(), fmt)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {text.count(chr(10))} items to {output}", err=True)
