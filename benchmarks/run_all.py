"""Every benchmark in one go (``make bench``): each script runs in its own process, prints
its figures as usual and writes them as JSON; the records are gathered in one file.

The sizes are the ones the issues' acceptance figures are stated at; ``--quick`` shrinks
each to a smoke run (a minute or two in all), whose figures are not the acceptance ones.
A benchmark that cannot run here (no Chromium for the web view, no OpenEvolve) is
recorded as skipped with the reason. The summary at the end lists every acceptance check
with its figure; the exit status is 1 when a benchmark failed to run, or, with
``--strict``, when a check missed its limit.

    python benchmarks/run_all.py [--out bench.json] [--quick] [--only NAME ...]
                                 [--openevolve-python PATH] [--strict]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Bench:
    """A benchmark script with its full-size and smoke-size arguments."""

    name: str
    full: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()
    needs: str | None = None  # a command on PATH without which it is skipped


BENCHES = (
    Bench("startup", ("--repeat", "5"), ("--repeat", "2")),
    Bench("overhead", ("--nodes", "100000", "--segment", "10000"), ("--nodes", "3000")),
    Bench("llm_path", (), ("--quick",)),
    Bench("sampler_cost", (), ("--sizes", "1000", "10000", "--window", "200")),
    Bench(
        "parallel",
        ("--workers", "1", "2", "4", "8", "16"),
        ("--workers", "1", "4", "--executor", "local", "--per-worker", "3", "--sleep", "0.3"),
    ),
    Bench("cognition_search", (), ("--sizes", "1000", "10000", "--repeats", "10")),
    Bench("confirmation", (), ("--runs", "3", "--evaluations", "20")),
    Bench("novelty", (), ("--evaluations", "20", "--seeds", "2")),
    Bench("web_tree", (), ("--nodes", "1000", "--loads", "1"), needs="chromedriver"),
    Bench("tree_store", (), ("--quick",)),
)


def run_one(bench: Bench, quick: bool, workdir: Path) -> dict[str, object]:
    """Run one benchmark script; its JSON record, or why there is none."""
    if bench.needs and shutil.which(bench.needs) is None:
        return {"benchmark": bench.name, "skipped": f"{bench.needs} is not on PATH"}
    out = workdir / f"{bench.name}.json"
    args = bench.quick if quick else bench.full
    command = [sys.executable, str(HERE / f"{bench.name}.py"), *args, "--json", str(out)]
    print(f"\n=== {bench.name}: {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    code = subprocess.run(command, cwd=HERE).returncode
    seconds = time.perf_counter() - started
    if code != 0 or not out.exists():
        return {"benchmark": bench.name, "failed": f"exit status {code}", "seconds": seconds}
    record: dict[str, object] = json.loads(out.read_text())
    record["seconds"] = seconds
    return record


def openevolve(python: str, quick: bool, workdir: Path) -> dict[str, object]:
    """The side-by-side run with OpenEvolve, under its own interpreter."""
    given = ("--openevolve-python", python)
    return run_one(Bench("vs_openevolve", given, (*given, "--quick")), quick, workdir)


def summary(records: list[dict[str, object]]) -> tuple[list[str], bool, bool]:
    """The summary lines, whether every benchmark ran, whether every check held."""
    lines, ran, held = [], True, True
    for record in records:
        name = record["benchmark"]
        if "skipped" in record or "failed" in record:
            ran = ran and "failed" not in record
            lines.append(f"{name:<17} {record.get('skipped') or record.get('failed')}")
            continue
        checks = record.get("checks") or {}
        assert isinstance(checks, dict)
        if not checks:
            lines.append(f"{name:<17} ran in {record['seconds']:.0f} s (figures only)")
        for check, result in checks.items():
            held = held and bool(result["ok"])
            verdict = "ok" if result["ok"] else "MISSED"
            lines.append(
                f"{name:<17} {check}: {result['value']:.4g} (limit {result['limit']:g}) {verdict}"
            )
    return lines, ran, held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench.json"))
    parser.add_argument("--quick", action="store_true", help="smoke sizes, not the acceptance")
    parser.add_argument(
        "--only", nargs="+", choices=[b.name for b in BENCHES] + ["vs_openevolve"], default=None
    )
    parser.add_argument(
        "--openevolve-python",
        default=os.environ.get("OPENEVOLVE_PYTHON"),
        help="an interpreter with OpenEvolve installed: also run benchmarks/vs_openevolve.py",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a check misses")
    args = parser.parse_args()

    started = datetime.now(timezone.utc)
    records = []
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp:
        for bench in BENCHES:
            if args.only is None or bench.name in args.only:
                records.append(run_one(bench, args.quick, Path(tmp)))
        wanted = args.only is None or "vs_openevolve" in args.only
        if wanted and args.openevolve_python:
            records.append(openevolve(args.openevolve_python, args.quick, Path(tmp)))
    document = {
        "started": started.isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "benchmarks": {str(record["benchmark"]): record for record in records},
    }
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    lines, ran, held = summary(records)
    print(f"\n=== summary ({'smoke sizes' if args.quick else 'acceptance sizes'}; {args.out})")
    print("\n".join(lines))
    if not ran or (args.strict and not held):
        sys.exit(1)


if __name__ == "__main__":
    main()
