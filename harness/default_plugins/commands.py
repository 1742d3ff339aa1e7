"""Registers the built-in commands: run, resume, status, compare, eval, llm, cognition, plugins,
new-task, serve, report, export."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.hookspecs import hookimpl

if TYPE_CHECKING:  # evaluation workers load this plugin too, and never need click
    import click


@hookimpl
def harness_register_commands(cli: click.Group) -> None:
    from harness.commands.cognition import cognition_group
    from harness.commands.compare import compare
    from harness.commands.eval import eval_command
    from harness.commands.export import export_command
    from harness.commands.llm import llm_group
    from harness.commands.new_task import new_task
    from harness.commands.plugins import plugins_command
    from harness.commands.report import report
    from harness.commands.resume import resume
    from harness.commands.run import run
    from harness.commands.serve import serve
    from harness.commands.status import status

    for command in (
        run,
        resume,
        status,
        compare,
        eval_command,
        llm_group,
        cognition_group,
        plugins_command,
        new_task,
        serve,
        report,
        export_command,
    ):
        cli.add_command(command)
