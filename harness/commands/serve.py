"""``harness serve``: browse run stores live in a web browser (docs/web.md)."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import click


def default_path() -> Path:
    """``./runs`` when it exists (where ``harness run`` writes), else the current folder."""
    return Path("runs") if Path("runs").is_dir() else Path(".")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free one), bound before the server starts so the
    URL printed is the one it answers at; a clear error when the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(128)
    return sock


@click.command()
@click.argument(
    "path",
    required=False,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8642, show_default=True, type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port).",
)  # fmt: skip
@click.option(
    "--refresh", default=2.0, show_default=True, type=click.FloatRange(min=0.2),
    help="Seconds between the live pages' updates.",
)  # fmt: skip
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
def serve(path: Path | None, host: str, port: int, refresh: float, open_browser: bool) -> None:
    """Serve the runs under PATH (a run directory, a sweep, or a folder of runs; default
    ./runs if it exists, else .) as live, read-only web pages: the evolution tree, each
    node's program, diff and LLM exchanges, and the curves.

    \b
    harness serve                      # http://127.0.0.1:8642/
    harness serve multirun/2026-12-01 --port 0 --open
    """
    import uvicorn

    from harness.web.app import create_app
    from harness.web.stores import scan

    root = (path or default_path()).resolve()
    if not is_loopback(host):
        click.echo(
            f"Warning: listening on {host}, not loopback: anyone who reaches this address can "
            "read every run under the folder (programs, prompts, answers). There is no login.",
            err=True,
        )
    if not scan(root).runs:
        click.echo(f"No run directories under {root} yet; the list fills as they appear.", err=True)
    sock = bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}/"
    click.echo(f"Serving {root} at {url} (Ctrl-C stops)", nl=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    config = uvicorn.Config(create_app(root, refresh), log_level="warning", lifespan="off")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled: a normal stop
        click.echo("Stopped.")
    finally:
        sock.close()
