"""``harness`` (the console script) and ``python -m harness``: the command line.

The console script's module is what multiprocessing re-imports as ``__mp_main__`` in every
spawned evaluation worker, so it imports nothing beyond the ``harness`` package: the CLI
(click, the commands, the plugins' commands) is imported only when :func:`main` runs.
"""

from __future__ import annotations


def main() -> None:
    from harness.commands import cli

    cli(prog_name="harness")


if __name__ == "__main__":
    main()
