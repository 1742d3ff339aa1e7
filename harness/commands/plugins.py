"""``harness plugins``: what is installed, which hooks each plugin implements, and
``--check``: whether every installed task really works.

Plain ``harness plugins`` stays cheap (no config is composed, nothing evaluated): it only
warns, one line each, about a task whose ``conf/task/NAME.yaml`` is not on the config
search path. ``--check`` goes further for every task: the YAML is found, the config
composes, the spec builds, every seed exists and evaluates successfully through the
sandbox; a misspelled hook is reported as a finding naming the closest real hook. Exit
status 0 when clean, 1 with findings.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import click

from harness import plugins


@dataclass
class Finding:
    """One problem ``--check`` found: which plugin and task, what kind, and the fix."""

    plugin: str | None
    task: str | None
    check: str  # load, hook, yaml, compose, spec, seed
    message: str

    def line(self) -> str:
        where = ", ".join(
            part
            for part in (
                f"plugin {self.plugin}" if self.plugin else "",
                f"task {self.task}" if self.task else "",
            )
            if part
        )
        return f"{where}: {self.message}" if where else self.message


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--all", "include_builtins", is_flag=True, help="Include built-in plugins.")
@click.option(
    "--check",
    is_flag=True,
    help="Compose every task's config and evaluate its seeds; exit 1 on any problem.",
)
def plugins_command(as_json: bool, include_builtins: bool, check: bool) -> None:
    """List installed plugins, their versions, tasks and the hooks they implement."""
    if check:
        findings = run_checks()
        if as_json:
            click.echo(json.dumps([asdict(finding) for finding in findings], indent=2))
        else:
            for finding in findings:
                click.echo(finding.line())
            click.echo(f"{len(findings)} problem(s) found." if findings else "All checks passed.")
        raise SystemExit(1 if findings else 0)
    try:
        every = plugins.plugin_info(include_builtins=True)
    except Exception as exc:  # noqa: BLE001 - reported as the CLI reports a load failure
        from harness.commands import plugin_load_failure

        plugin_load_failure(exc)
    builtins = set(plugins.DEFAULT_PLUGINS)
    rows = [row for row in every if include_builtins or row["name"] not in builtins]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        _print_rows(rows)
    for finding in yaml_findings(every):
        click.echo(f"warning: {finding.line()}", err=True)


def _print_rows(rows: list[dict[str, Any]]) -> None:
    if not rows:
        click.echo("No plugins installed. Try: pip install -e plugins/tasks/circle_packing")
    for row in rows:
        version = f" {row['version']}" if row["version"] else ""
        tasks = f" tasks: {', '.join(row['tasks'])}" if row["tasks"] else ""
        click.echo(f"{row['distribution'] or row['name']}{version}{tasks}")
        click.echo(f"  hooks: {', '.join(row['hooks'])}")


def expected_yaml(plugin: object, task: str) -> str:
    """Where ``task``'s YAML must be for ``plugin``, and how it gets installed there."""
    module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
    package = module.split(".")[0]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return (
            f"the plugin module {module!r} is not a package, so it cannot ship configs: make "
            f"it a package and add {package}/conf/task/{task}.yaml"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "conf" / "task" / f"{task}.yaml"
    return (
        f"expected the plugin package's conf/task/{task}.yaml at {path}, installed as package "
        f'data (e.g. [tool.setuptools.package-data] {package} = ["conf/**/*.yaml"]), with '
        f"{package}/conf/__init__.py so that {package}.conf is importable"
    )


def yaml_findings(rows: list[dict[str, Any]]) -> list[Finding]:
    """A finding for every task whose ``conf/task/NAME.yaml`` is not on the config search
    path (the user's conf/, the core's, the plugins' conf packages); files only, cheap."""
    from harness.confpaths import group_options

    found = set(group_options("task"))
    return [
        Finding(
            row["name"],
            task,
            "yaml",
            f"no conf/task/{task}.yaml on the config search path, so +task={task} cannot "
            f"compose; {expected_yaml(plugins.pm.get_plugin(row['name']), task)}",
        )
        for row in rows
        for task in row["tasks"]
        if task not in found
    ]


def load_findings() -> list[Finding]:
    """Load the plugins; a plugin with misspelled hooks becomes findings and is blocked, so
    that the other plugins can still be checked."""
    findings: list[Finding] = []
    try:
        plugins.load_plugins()
    except plugins.UnknownHookError as exc:
        for plugin, hook, close in exc.problems:
            fix = f"rename it to {close!r}" if close else "remove it or rename it to a hook"
            findings.append(
                Finding(
                    plugin,
                    None,
                    "hook",
                    f"{hook!r} is not a harness hook: {fix} (hooks: docs/plugin-hooks.md)",
                )
            )
            plugins.pm.set_blocked(plugin)
    except Exception as exc:  # noqa: BLE001 - the finding is the report
        return [Finding(None, None, "load", f"plugins failed to load: {exc}")]
    if findings:
        try:
            plugins.load_plugins()
        except Exception as exc:  # noqa: BLE001 - the finding is the report
            findings.append(Finding(None, None, "load", f"plugins failed to load: {exc}"))
    return findings


def task_findings(plugin: str, task: str) -> list[Finding]:
    """Compose ``+task=TASK``, build the spec, and evaluate every seed through the sandbox."""
    from omegaconf import OmegaConf

    from harness.config import compose_config
    from harness.evaluation import evaluate_program
    from harness.tasks import RunError, seed_program, task_limits, task_spec

    def finding(check: str, message: str) -> list[Finding]:
        return [Finding(plugin, task, check, message)]

    try:
        cfg = compose_config([f"+task={task}"])
    except Exception as exc:  # noqa: BLE001 - any composition error is the finding
        return finding("compose", f"+task={task} does not compose: {exc}")
    config = cast(dict[str, Any], OmegaConf.to_container(cfg.task, resolve=True))
    try:
        spec = task_spec(config)
    except RunError as exc:
        return finding("spec", f"spec() fails: {exc}")
    if not spec.seeds:
        return finding("seed", "the spec declares no seed: list one in TaskSpec.seeds")
    findings: list[Finding] = []
    for seed in spec.seeds:
        try:
            program = seed_program(config, seed)
        except RunError as exc:
            findings += finding("seed", f"{exc} Ship seeds/{seed}.py as package data.")
            continue
        result = evaluate_program(config, program, task_limits(config, spec))
        if not result.success:
            last = (result.feedback or "").strip().splitlines()[-1:] or ["no feedback"]
            findings += finding(
                "seed",
                f"seed {seed!r} fails its evaluation ({result.error_class}): {last[0][:300]}; "
                f"check it with `harness eval +task={task} --program <the seed file>`",
            )
    return findings


def run_checks() -> list[Finding]:
    """Every finding of ``harness plugins --check``, plugin by plugin."""
    findings = load_findings()
    if any(finding.check == "load" for finding in findings):
        return findings
    rows = plugins.plugin_info(include_builtins=True)
    missing = yaml_findings(rows)
    findings += missing
    skip = {finding.task for finding in missing}
    for row in rows:
        for task in row["tasks"]:
            if task not in skip:
                findings += task_findings(row["name"], task)
    return findings
