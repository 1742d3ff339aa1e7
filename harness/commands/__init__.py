"""The ``harness`` command line: one module per command, gathered in the group :data:`cli`.

Importing this package loads no plugin and none of the heavy libraries the commands use:
evaluation workers start by importing the console script's module. Every command, the
built-in ones included (:mod:`harness.default_plugins.commands`), is added through
``harness_register_commands`` when the group is first used.
"""

from __future__ import annotations

import click

from harness.plugins import load_plugins, pm


class HarnessGroup(click.Group):
    """Adds plugins' commands on first use, so that importing the CLI loads no plugin."""

    _plugins_added = False

    def _add_plugin_commands(self) -> None:
        if HarnessGroup._plugins_added:
            return
        HarnessGroup._plugins_added = True
        try:
            load_plugins()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not hide the CLI
            click.echo(
                f"harness: failed to load plugins: {exc}\n"
                "Set HARNESS_LOAD_PLUGINS='' to start without plugins.",
                err=True,
            )
            raise SystemExit(1) from exc
        pm.hook.harness_register_commands(cli=self)

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
