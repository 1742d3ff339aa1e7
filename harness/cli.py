"""The ``harness`` command line: run, resume, status, compare, eval, llm, cognition, plugins."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import sys
from pathlib import Path
from typing import Any

import click

from harness import plugins
from harness.cognition.cli import cognition_group
from harness.confpaths import group_options

GROUPS = ("task", "sampler", "llm", "cognition", "analyzer", "executor", "run")
_CHOICE = re.compile(r"^[+~]?(?P<group>[a-z_]+)=(?P<value>[^=]*)$")


def _fail(message: str) -> None:
    raise click.UsageError(message)


def check_overrides(overrides: tuple[str, ...] | list[str], require_task: bool = True) -> None:
    """Catch a missing task or an unknown group option before Hydra starts, with hints."""
    seen_task = False
    for item in overrides:
        match = _CHOICE.match(item)
        if not match or match["group"] not in GROUPS:
            continue
        group, value = match["group"], match["value"]
        seen_task |= group == "task"
        if any(token in value for token in ("glob(", "range(", "choice(", "${")):
            continue
        choices = group_options(group)
        for option in (v.strip() for v in value.split(",")):
            if group == "task" and option in choices and option not in plugins.task_names():
                _fail(
                    f"Task {option!r} has a config file but no installed plugin registers it."
                )
            if option not in choices:
                kind = "task" if group == "task" else f"{group} option"
                _fail(f"Unknown {kind} {option!r}." + plugins.did_you_mean(option, choices))
    if require_task and not seen_task:
        _fail(
            "No task selected: add +task=NAME, e.g. `harness run +task=circle_packing`."
            + plugins.did_you_mean("", group_options("task")).replace(" Available", " Installed")
        )


class HarnessGroup(click.Group):
    """Adds plugins' commands on first use, so importing this module loads no plugin
    (evaluation workers import it when they start)."""

    _plugins_added = False

    def _add_plugin_commands(self) -> None:
        if HarnessGroup._plugins_added:
            return
        HarnessGroup._plugins_added = True
        try:
            plugins.load_plugins()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not hide the CLI
            click.echo(
                f"harness: failed to load plugins: {exc}\n"
                "Set HARNESS_LOAD_PLUGINS='' to start without plugins.",
                err=True,
            )
            raise SystemExit(1) from exc
        plugins.pm.hook.harness_register_commands(cli=self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._add_plugin_commands()
        return super().get_command(ctx, cmd_name)


@click.group(cls=HarnessGroup)
@click.version_option(package_name="harness-research")
def cli() -> None:
    """harness: closed-loop, LLM-driven research (evolutionary program search)."""


@cli.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def run(overrides: tuple[str, ...]) -> None:
    """Run an evolution; OVERRIDES go to Hydra (`-m` for sweeps).

    \b
    harness run +task=circle_packing
    harness run +task=circle_packing sampler=random seed=3 run.max_evaluations=200
    harness run -m +task=circle_packing sampler=ucb1,random seed=0,1,2
    harness run +task=circle_packing llm=openai llm.base_url=URL llm.model=M
    """
    if overrides and overrides[0] in ("--help", "-h"):
        click.echo(run.get_help(click.get_current_context()))
        click.echo("\nHydra's own help: harness run --hydra-help")
        return
    if "--hydra-help" not in overrides and "--info" not in overrides:
        check_overrides(overrides)
        if not any(item.startswith("-") for item in overrides):  # -m sweeps: Hydra's own
            _check_single_run(overrides)
    from harness import app

    sys.argv = ["harness", *overrides]
    app.main()


def _override_key(item: str) -> str:
    return item.split("=", 1)[0].lstrip("+~")


def _compose_or_fail(overrides: list[str]) -> Any:
    """The composed config, or a usage error for a bad override or an out-of-range value."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from harness.config import compose_config, range_problems

    try:
        cfg = compose_config(overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        _fail(f"Bad override: {exc}")
    problems = range_problems(cfg)
    if problems:
        _fail("; ".join(problems))
    return cfg


def _check_single_run(overrides: tuple[str, ...]) -> None:
    """Refuse what the run would refuse before Hydra creates its directory (a stray one) or
    rewrites ``.hydra/`` in a directory that holds a run (its next resume would take the
    refused overrides): out-of-range values, and a ``hydra.run.dir`` that holds a run."""
    from harness import db as store
    from harness.config import compose_config, range_problems
    from harness.sandbox import unisolated_refusal

    for item in overrides:
        if _override_key(item) == "hydra.run.dir" and "${" not in item:
            run_dir = Path(item.split("=", 1)[1])
            if (run_dir / store.DB_NAME).exists():
                raise click.ClickException(
                    f"{run_dir} already holds a run; continue it with "
                    f"`harness resume {run_dir}` or choose another hydra.run.dir"
                )
    try:
        cfg = compose_config(list(overrides))
    except Exception:  # noqa: BLE001 - Hydra itself reports what does not compose
        return
    problems = range_problems(cfg)
    if problems:
        _fail("; ".join(problems))
    refusal = unisolated_refusal(str(cfg.llm.name), str(cfg.get("sandbox") or "auto"))
    if refusal:  # the machine, not the command line, is at fault: exit 1, no usage
        raise click.ClickException(refusal)


def resume_config(run_dir: Path, overrides: tuple[str, ...]) -> tuple[Any, list[str]]:
    """Recompose the run's config from its saved overrides plus the new ones (new wins),
    so schemas still apply. Nothing is saved here: the run saves them for the next resume
    once it holds the run directory and has accepted them."""
    from omegaconf import OmegaConf

    hydra_dir = run_dir / ".hydra"
    if not (hydra_dir / "overrides.yaml").exists():
        _fail(f"{run_dir} is not a harness run directory (no .hydra/overrides.yaml).")
    check_overrides(overrides, require_task=False)
    replaced = {_override_key(item) for item in overrides}
    saved = [str(item) for item in OmegaConf.load(hydra_dir / "overrides.yaml")]
    merged = [item for item in saved if _override_key(item) not in replaced] + list(overrides)
    return _compose_or_fail(merged), merged


@cli.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("overrides", nargs=-1)
def resume(run_dir: Path, overrides: tuple[str, ...]) -> None:
    """Continue a stopped or killed run in RUN_DIR, optionally with new OVERRIDES.

    Rounds that were in flight are re-run; completed nodes are kept. New overrides (a
    larger budget, another sampler) are saved with the run.

    \b
    harness resume runs/circle_packing/2026-11-27_10-00-00 run.max_evaluations=500
    """
    from harness.loop import Run
    from harness.tasks import RunError

    cfg, merged = resume_config(run_dir, overrides)
    logging.basicConfig(
        level=logging.INFO,
        format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s",
        handlers=[logging.StreamHandler(sys.stdout), logging.FileHandler(run_dir / "resume.log")],
    )
    try:
        run = Run(cfg, run_dir, merged, resume=True)
        summary = asyncio.run(run.execute())
    except RunError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"best {summary['best_score']} (node {summary['best_node']}), {summary['nodes']} nodes"
    )
    code, message = run.exit_status
    if code:
        click.echo(message, err=True)
        raise SystemExit(code)


def _task_spec_or_none(task: str | None) -> Any:
    if not task:
        return None
    try:
        from harness.tasks import task_spec

        return task_spec({"name": task})
    except Exception:  # noqa: BLE001 - status works even when the plugin is gone
        return None


@cli.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def status(run_dir: Path, as_json: bool) -> None:
    """Progress of the run in RUN_DIR: nodes, best score, failures, LLM usage."""
    from harness import db as store

    path = run_dir / store.DB_NAME
    if not path.exists():
        _fail(f"{run_dir} has no {store.DB_NAME}.")
    try:
        summary = store.summary(store.open_db(run_dir, migrate=False))
    except store.StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    except sqlite3.Error as exc:
        damaged = store.damaged(path, exc) if store.is_damaged(exc) else None
        raise click.ClickException(str(damaged or f"cannot read {path}: {exc}")) from exc
    spec = _task_spec_or_none(summary["task"])
    summary["best_known"] = spec.best_known if spec else None
    if summary["best_known"] and summary["best_score"] is not None:
        summary["gap_to_best_known"] = summary["best_known"] - summary["best_score"]
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    usage = summary.pop("models")
    shares = summary.pop("inspired_by")
    for key, value in summary.items():
        click.echo(f"{key:18} {value}")
    total = sum(shares.values())
    if total:
        click.echo(
            f"{'inspired_by':18} "
            + ", ".join(f"{k} {100 * v / total:.1f}% ({v})" for k, v in shares.items())
            + f" of {total} proposed programs"
        )
    for row in usage:
        cost = "" if row["cost_usd"] is None else f", ${row['cost_usd']:.4f}"
        improved = f", {row['improved']} improved" if "improved" in row else ""
        click.echo(
            f"{'model':18} {row['role']} {row['model']}: {row['calls']} calls, "
            f"{row['tokens']} tokens{cost}{improved}"
        )


@cli.command()
@click.argument(
    "paths",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default: PATH/compare for one PATH, else ./compare).",
)
@click.option(
    "--threshold",
    "-t",
    "thresholds",
    type=float,
    multiple=True,
    help="Score for an 'evals to >= T' column; repeatable (default: 50% and 90% of the "
    "way from the median seed score to the best group's final mean).",
)
@click.option("--title", help="Title of the figure.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def compare(
    paths: tuple[Path, ...],
    out_dir: Path | None,
    thresholds: tuple[float, ...],
    title: str | None,
    as_json: bool,
) -> None:
    """Compare runs: best-score curves per configuration, over seeds.

    Each PATH is a run directory or a folder holding run directories at any depth (a
    sweep's multirun/<stamp>/). Runs that differ only by seed form one group. Writes
    compare.png, curves.csv and summary.csv and prints a summary table.

    \b
    harness compare multirun/2026-11-27_10-00-00
    harness compare runs/a runs/b --out cmp -t 1.8 -t 1.9 --title "ucb1 vs random"
    """
    from harness import compare as comparing

    report = comparing.compare(paths, out_dir, thresholds, title)
    for warning in report.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if as_json:
        click.echo(json.dumps(comparing.to_json(report), indent=2))
        return
    click.echo(comparing.markdown_table(report.summaries, report.thresholds))
    click.echo()
    for path in report.files.values():
        click.echo(f"wrote {path}")


@cli.command(
    "eval", context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
@click.option(
    "--program",
    "program_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The candidate program to evaluate.",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def eval_command(program_path: Path, as_json: bool, overrides: tuple[str, ...]) -> None:
    """Evaluate one program exactly as a run would (worker process, sandbox, scoring).

    \b
    harness eval +task=circle_packing --program my_packing.py --json
    """
    from omegaconf import OmegaConf

    from harness.evaluation import undecodable
    from harness.executors.local import LocalExecutor
    from harness.tasks import RunError, task_limits, task_spec

    check_overrides(overrides)
    cfg = _compose_or_fail(list(overrides))
    task = OmegaConf.to_container(cfg.task, resolve=True)
    try:
        spec = task_spec(task)
    except RunError as exc:
        raise click.ClickException(str(exc)) from exc
    # A file that is not UTF-8 is a failed candidate like any other, not a crash.
    result = undecodable(program_path.read_bytes())
    if result is None:
        program = program_path.read_text(encoding="utf-8")
        executor = LocalExecutor(1)
        try:
            result = asyncio.run(executor.evaluate(task, program, task_limits(task, spec)))
        finally:
            executor.shutdown()
    payload = {
        "task": spec.name,
        "program": str(program_path),
        "success": result.success,
        "score": result.score,
        "error_class": result.error_class,
        "metrics": result.metrics,
        "feedback": result.feedback,
    }
    if as_json:
        click.echo(json.dumps(payload, indent=2, default=str))
        return
    rows = {"success": result.success, "score": result.score}
    if result.error_class:
        rows["error"] = result.error_class
    # A metric named like a row above (often "score" itself) is not repeated.
    rows.update((k, v) for k, v in result.metrics.items() if k not in rows)
    width = max(len(key) for key in rows) + 1
    for key, value in rows.items():
        click.echo(f"{key:{width}} {value}")
    if result.feedback:
        click.echo("feedback:\n" + result.feedback)


cli.add_command(cognition_group)


@cli.group("llm")
def llm_group() -> None:
    """Work with the LLM endpoint a run would use (llm=openai).

    \b
    harness llm check llm=openai llm.base_url=http://127.0.0.1:8000/v1 llm.model=Qwen3-32B
    harness llm check llm=openai llm.model=gpt-5-mini --json
    """


@llm_group.command(
    "check", context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def llm_check(as_json: bool, overrides: tuple[str, ...]) -> None:
    """Check the endpoint of the config composed from OVERRIDES, before a run needs it.

    Lists the server's models (is llm.model among them?), then sends one tiny chat
    completion with the run's settings (temperature, max_tokens, extra_body, timeout_s)
    and prints its latency, finish_reason, tokens and answer. One attempt per step, no
    retries. Exit status 0 when every step passes, 1 otherwise. The API key is read
    from the variable named by llm.api_key_env and never printed.

    \b
    harness llm check llm=openai llm.base_url=http://127.0.0.1:8000/v1 llm.model=Qwen3-32B
    """
    from omegaconf import OmegaConf

    check_overrides(overrides, require_task=False)
    cfg = _compose_or_fail(list(overrides))
    section = OmegaConf.to_container(cfg.llm, resolve=True, enum_to_str=True)
    name = section.get("name")
    if name != "openai":
        message = (
            "llm=offline needs no endpoint: the offline proposer runs in-process."
            if name == "offline"
            else f"llm={name}: only llm=openai endpoints can be checked; nothing to do."
        )
        if as_json:
            click.echo(json.dumps({"ok": True, "llm": name, "message": message}, indent=2))
        else:
            click.echo(message)
        return
    from harness.llm import check

    try:
        report = check.check(section)
    except ValueError as exc:  # an invalid llm section (no model, bad option)
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        for line in check.format_report(report):
            click.echo(line)
    if not report.ok:
        raise SystemExit(1)


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--all", "include_builtins", is_flag=True, help="Include built-in plugins.")
def plugins_command(as_json: bool, include_builtins: bool) -> None:
    """List installed plugins, their versions, tasks and the hooks they implement."""
    rows = plugins.plugin_info(include_builtins=include_builtins)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No plugins installed. Try: pip install -e plugins/tasks/circle_packing")
    for row in rows:
        version = f" {row['version']}" if row["version"] else ""
        tasks = f" tasks: {', '.join(row['tasks'])}" if row["tasks"] else ""
        click.echo(f"{row['distribution'] or row['name']}{version}{tasks}")
        click.echo(f"  hooks: {', '.join(row['hooks'])}")
