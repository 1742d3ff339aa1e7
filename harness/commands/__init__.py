"""The ``harness`` command line: one module per command, gathered in the group :data:`cli`.

Importing this package loads no plugin and none of the heavy libraries the commands use;
the console script (:mod:`harness.__main__`) imports it only when it runs, so evaluation
workers, which re-import the script's module, never load the CLI. Every command, the
built-in ones included (:mod:`harness.default_plugins.commands`), is added through
``harness_register_commands`` when the group is first used.
"""

from __future__ import annotations

from typing import NoReturn

import click

from harness.plugins import load_plugins, pm


def plugin_load_failure(exc: Exception) -> NoReturn:
    """Stop with the plugins' load error and the ways out (exit status 1)."""
    click.echo(
        f"harness: failed to load plugins: {exc}\n"
        "Run `harness plugins --check` for each problem and its fix, or set "
        "HARNESS_LOAD_PLUGINS='' to start without plugins.",
        err=True,
    )
    raise SystemExit(1) from exc


class HarnessGroup(click.Group):
    """Adds plugins' commands on first use, so that importing the CLI loads no plugin.

    When the plugins fail to load, only ``harness plugins`` is offered (its ``--check``
    reports what is wrong); every other command stops with the load error.
    """

    _plugins_added = False
    _load_error: Exception | None = None

    def _add_plugin_commands(self) -> None:
        if HarnessGroup._plugins_added:
            return
        HarnessGroup._plugins_added = True
        try:
            load_plugins()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not hide the CLI
            from harness.commands.plugins import plugins_command

            HarnessGroup._load_error = exc
            self.add_command(plugins_command)
            return
        pm.hook.harness_register_commands(cli=self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands()
        if HarnessGroup._load_error is not None:
            plugin_load_failure(HarnessGroup._load_error)
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._add_plugin_commands()
        if HarnessGroup._load_error is not None and cmd_name != "plugins":
            plugin_load_failure(HarnessGroup._load_error)
        return super().get_command(ctx, cmd_name)


@click.group(cls=HarnessGroup)
@click.version_option(package_name="harness-research")
def cli() -> None:
    """harness: closed-loop, LLM-driven research (evolutionary program search)."""
