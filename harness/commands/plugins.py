"""``harness plugins``: what is installed, and which hooks each plugin implements."""

from __future__ import annotations

import json

import click

from harness import plugins


@click.command("plugins")
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
