"""``harness llm check``: probe the endpoint a run would use, before the run needs it."""

from __future__ import annotations

import json

import click

from harness.commands._errors import usage_errors


@click.group("llm")
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
    from harness.composition import check_overrides, compose, section

    with usage_errors():
        check_overrides(overrides, require_task=False)
        llm = section(compose(overrides), "llm")
    name = llm.get("name")
    # An endpoint is what a back-end's config points at with base_url; one without it
    # (a proposer in this process, a replay, a model on disk) has nothing to check.
    if "base_url" not in llm:
        message = f"llm={name} needs no endpoint (its config has no base_url): nothing to check."
        if as_json:
            click.echo(json.dumps({"ok": True, "llm": name, "message": message}, indent=2))
        else:
            click.echo(message)
        return
    from harness.llm import check

    try:
        report = check.check(llm)
    except ValueError as exc:  # an invalid llm section (no model, bad option)
        raise click.UsageError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        for line in check.format_report(report):
            click.echo(line)
    if not report.ok:
        raise SystemExit(1)
