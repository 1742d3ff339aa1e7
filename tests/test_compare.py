"""``harness compare``: grouping, curves, summary figures and files, on hand-built run
stores with known values, plus one sweep through the real CLI."""

from __future__ import annotations

import csv
import json
import math
import statistics
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness import compare
from harness import db as store
from harness.commands import cli as harness_group
from harness.compare import output, stats

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
PNG = b"\x89PNG\r\n\x1a\n"


def stamp(second: float) -> str:
    return (T0 + timedelta(seconds=second)).isoformat(timespec="milliseconds")


def make_run(
    run_dir: Path,
    overrides: list[str],
    seed: int,
    scores: list[float | None],
    task: str = "toy",
) -> Path:
    """A run store whose evaluations complete in list order: a float is a success with that
    score, None a failed evaluation. Node 0 is the first entry (the seed program)."""
    db = store.open_db(run_dir)
    db["runs"].insert(
        {"task": task, "overrides": json.dumps(overrides), "seed": seed, "status": "finished"}
    )
    db["nodes"].insert_all(
        {
            "id": i,
            "run_id": 1,
            "status": "failed" if score is None else "evaluated",
            "success": int(score is not None),
            "score": score,
            "evaluated_at": stamp(i),
        }
        for i, score in enumerate(scores)
    )
    db.close()
    return run_dir


def sweep(root: Path) -> Path:
    """Group ``sampler=ucb1``: three seeds of different lengths (carry-forward), one run
    whose seed program fails; group ``sampler=random``: one run."""
    base = ["+task=toy", "run.max_evaluations=5"]
    make_run(root / "0", [*base, "sampler=ucb1", "seed=0"], 0, [1.0, 2.0, None, 1.5])
    make_run(root / "1", [*base, "sampler=ucb1", "seed=1"], 1, [1.0, 3.0])
    make_run(root / "2", [*base, "++sampler=ucb1", "seed=2"], 2, [None, 0.5, 4.0, 2.0, 5.0])
    make_run(root / "3", [*base, "sampler=random", "seed=0"], 0, [1.0, 1.2])
    return root


def load(root: Path) -> list[stats.Group]:
    return stats.group_runs([compare.load_run(d) for d in compare.find_run_dirs([root])])


def test_runs_are_grouped_by_overrides_without_seed_or_hydra(tmp_path):
    groups = load(sweep(tmp_path))
    assert [g.label for g in groups] == ["sampler=ucb1", "sampler=random"]
    assert [[r.run_dir.name for r in g.runs] for g in groups] == [["0", "1", "2"], ["3"]]
    assert [r.seed for r in groups[0].runs] == [0, 1, 2]


def test_normalisation_drops_seed_and_hydra_and_plus_prefixes():
    assert stats.normalise_override("++sampler=ucb1") == "sampler=ucb1"
    assert stats.normalise_override("+task=toy") == "task=toy"
    for dropped in ("seed=3", "+seed=3", "hydra.sweep.dir=x", "hydra/launcher=joblib"):
        assert stats.normalise_override(dropped) is None
    assert stats.grouping_key(["sampler=a", "seed=1", "+x=1"]) == stats.grouping_key(
        ["x=1", "sampler=a", "hydra.run.dir=d", "seed=2"]
    )


def test_label_shows_only_overrides_that_differ(tmp_path):
    make_run(tmp_path / "a", ["+task=toy", "sampler=ucb1", "run.workers=1"], 0, [1.0])
    make_run(tmp_path / "b", ["+task=toy", "sampler=random", "run.workers=2"], 0, [1.0])
    make_run(tmp_path / "c", ["+task=toy"], 0, [1.0])
    labels = [g.label for g in load(tmp_path)]
    assert labels == ["sampler=ucb1 run.workers=1", "sampler=random run.workers=2", "defaults"]


def test_one_configuration_is_labelled_all_runs(tmp_path):
    make_run(tmp_path / "a", ["+task=toy", "seed=0"], 0, [1.0])
    make_run(tmp_path / "b", ["+task=toy", "seed=1"], 1, [2.0])
    groups = load(tmp_path)
    assert [(g.label, len(g.runs)) for g in groups] == [("all runs", 2)]


def test_run_dirs_are_found_at_any_depth_in_natural_order(tmp_path):
    for name in ("x/10", "x/2", "x/deep/er/run", "y"):
        make_run(tmp_path / name, [], 0, [1.0])
    (tmp_path / "x" / "2" / "artifacts" / "nested").mkdir(parents=True)
    found = compare.find_run_dirs([tmp_path])
    assert [d.relative_to(tmp_path).as_posix() for d in found] == [
        "x/2",
        "x/10",
        "x/deep/er/run",
        "y",
    ]
    assert compare.find_run_dirs([tmp_path / "y", tmp_path / "y"]) == [tmp_path / "y"]


def test_curve_is_best_success_so_far_in_completion_order(tmp_path):
    run_dir = make_run(tmp_path, [], 0, [1.0, 3.0])
    db = store.open_db(run_dir)
    # node 2 completes before node 1's neighbour 3, a tie is broken by id, a pending node
    # (no evaluated_at) is not an evaluation, a failure with a score does not count
    db["nodes"].insert_all(
        [
            {"id": 2, "status": "evaluated", "success": 1, "score": 9.0, "evaluated_at": stamp(5)},
            {"id": 3, "status": "evaluated", "success": 1, "score": 4.0, "evaluated_at": stamp(3)},
            {"id": 4, "status": "failed", "success": 0, "score": 99.0, "evaluated_at": stamp(3)},
            {"id": 5, "status": "pending"},
        ]
    )
    db.close()
    run = compare.load_run(run_dir)
    assert run.curve == [1.0, 3.0, 4.0, 4.0, 9.0]
    assert (run.evaluated, run.failed, run.seed_score) == (5, 1, 1.0)


def test_group_curve_mean_and_band_carry_shorter_runs_forward(tmp_path):
    ucb1, random = load(sweep(tmp_path))
    assert math.isnan(ucb1.runs[2].curve[0])  # its seed program failed
    assert ucb1.mean == pytest.approx([1.0, 5.5 / 3, 3.0, 3.0, 10 / 3])
    assert ucb1.low == [1.0, 0.5, 2.0, 2.0, 2.0]
    assert ucb1.high == [1.0, 3.0, 4.0, 4.0, 5.0]
    assert (random.mean, random.low, random.high) == ([1.0, 1.2], [1.0, 1.2], [1.0, 1.2])


def test_aggregate_is_nan_until_some_run_has_a_success():
    mean, low, high = stats.aggregate([[math.nan, 2.0], [math.nan, math.nan, 1.0], []])
    assert math.isnan(mean[0]) and math.isnan(low[0]) and math.isnan(high[0])
    assert mean[1:] == [2.0, 1.5] and low[1:] == [2.0, 1.0] and high[1:] == [2.0, 2.0]


def test_summary_final_best_evals_to_threshold_and_failure_rate(tmp_path):
    ucb1, random = load(sweep(tmp_path))
    row = stats.summarise(ucb1, [3.0, 10.0])
    assert row.runs == 3
    assert row.final_mean == pytest.approx(10 / 3)
    assert row.final_std == pytest.approx(statistics.stdev([2.0, 3.0, 5.0]))
    assert (row.reach[0].mean, row.reach[0].reached, row.reach[0].runs) == (2.5, 2, 3)
    assert (row.reach[1].mean, row.reach[1].reached) == (None, 0)
    assert row.failure_rate_pct == pytest.approx((25.0 + 0.0 + 20.0) / 3)
    single = stats.summarise(random, [])
    assert (single.final_mean, single.final_std, single.failure_rate_pct) == (1.2, 0.0, 0.0)


def test_default_thresholds_are_50_and_90_percent_from_seed_to_best_group(tmp_path):
    root = sweep(tmp_path)
    report = compare.compare([root])
    # median seed score 1.0 (the failed seed of run 2 has none); best group mean 10/3
    assert report.thresholds == [2.167, 3.1]
    ucb1 = report.summaries[0]
    assert [(r.mean, r.reached) for r in ucb1.reach] == [(2.5, 2), (3.0, 1)]
    assert [(r.mean, r.reached) for r in report.summaries[1].reach] == [(None, 0), (None, 0)]


def test_default_thresholds_skipped_when_undefined():
    runs = [stats.RunCurve(Path("r"), "toy", 0, [], [2.0], 2.0, 1, 0)]
    assert stats.default_thresholds(runs, [2.0]) == []  # nothing beat the seed
    runs[0].seed_score = None
    assert stats.default_thresholds(runs, [2.0]) == []


def test_files_written_csvs_and_png(tmp_path):
    root = sweep(tmp_path / "sweep")
    report = compare.compare([root], thresholds=[3.0])
    out = root / "compare"
    assert report.files == {
        "plot": out / "compare.png",
        "curves": out / "curves.csv",
        "summary": out / "summary.csv",
    }
    assert (out / "compare.png").read_bytes().startswith(PNG)

    curves = list(csv.DictReader((out / "curves.csv").open()))
    assert len(curves) == 4 + 2 + 5 + 2
    assert curves[0] == {
        "group": "sampler=ucb1",
        "run_dir": str(root / "0"),
        "seed": "0",
        "evaluation": "1",
        "best_score": "1.0",
    }
    run2 = [(c["evaluation"], c["best_score"]) for c in curves if c["run_dir"].endswith("2")]
    assert run2 == [("1", ""), ("2", "0.5"), ("3", "4.0"), ("4", "4.0"), ("5", "5.0")]

    with (out / "summary.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == [
        "group",
        "runs",
        "final_best_mean",
        "final_best_std",
        "evals_to_ge_3_mean",
        "evals_to_ge_3_reached",
        "failure_rate_pct",
    ]
    assert rows[1][:2] == ["sampler=ucb1", "3"]
    assert [float(v) for v in rows[1][2:]] == pytest.approx(
        [10 / 3, statistics.stdev([2.0, 3.0, 5.0]), 2.5, 2, 15.0]
    )
    assert rows[2] == ["sampler=random", "1", "1.2", "0.0", "", "0", "0.0"]


def test_markdown_table(tmp_path):
    report = compare.compare([sweep(tmp_path)], thresholds=[3.0, 10.0])
    assert output.markdown_table(report.summaries, report.thresholds).splitlines() == [
        "| group | runs | final best | evals to ≥ 3 | evals to ≥ 10 | failure rate |",
        "|---|---|---|---|---|---|",
        "| sampler=ucb1 | 3 | 3.333 ± 1.53 | 2.5 (2/3) | — | 15.0% |",
        "| sampler=random | 1 | 1.2 ± 0 | — | — | 0.0% |",
    ]


def test_cli_prints_table_paths_and_json(tmp_path):
    root = sweep(tmp_path / "sweep")
    runner = CliRunner()
    result = runner.invoke(harness_group, ["compare", str(root), "-t", "3", "--title", "T"])
    assert result.exit_code == 0, result.output
    assert "| sampler=ucb1 | 3 | 3.333 ± 1.53 | 2.5 (2/3) | 15.0% |" in result.output
    assert f"wrote {root / 'compare' / 'compare.png'}" in result.output

    out = tmp_path / "elsewhere"
    result = runner.invoke(harness_group, ["compare", str(root), "--out", str(out), "--json"])
    payload = json.loads(result.output)
    assert payload["thresholds"] == [2.167, 3.1]
    assert [g["group"] for g in payload["groups"]] == ["sampler=ucb1", "sampler=random"]
    assert payload["groups"][1]["evals_to"][0] == {
        "threshold": 2.167,
        "mean": None,
        "reached": 0,
        "runs": 1,
    }
    assert payload["files"]["summary"] == str(out / "summary.csv") and out.is_dir()


def test_several_paths_default_to_compare_in_the_working_directory(tmp_path, monkeypatch):
    make_run(tmp_path / "a", ["sampler=ucb1"], 0, [1.0])
    make_run(tmp_path / "b", ["sampler=random"], 0, [2.0])
    monkeypatch.chdir(tmp_path)
    report = compare.compare(["a", "b"])
    assert report.files["plot"] == Path("compare") / "compare.png"
    assert (tmp_path / "compare" / "summary.csv").exists()


def test_mixed_tasks_warn(tmp_path):
    make_run(tmp_path / "a", ["+task=toy"], 0, [1.0], task="toy")
    make_run(tmp_path / "b", ["+task=other"], 0, [1.0], task="other")
    result = CliRunner().invoke(harness_group, ["compare", str(tmp_path)])
    assert result.exit_code == 0
    assert "different tasks: other, toy" in result.stderr


def test_no_run_directories_is_a_usage_error(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(compare.NoRunsFoundError, match="No run directories"):
        compare.find_run_dirs([tmp_path / "empty"])
    result = CliRunner().invoke(harness_group, ["compare", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "No run directories" in result.stderr


def test_an_unreadable_store_names_its_run_directory(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / store.DB_NAME).write_bytes(b"")  # an empty file: no tables
    with pytest.raises(compare.CompareError, match="cannot read harness.db"):
        compare.load_run(tmp_path / "r")


def test_without_matplotlib_the_figure_is_skipped_with_the_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(output.PlotUnavailableError, match=r"pip install matplotlib"):
        output.require_matplotlib()
    report = compare.compare([sweep(tmp_path)])
    out = tmp_path / "compare"
    assert report.files == {"curves": out / "curves.csv", "summary": out / "summary.csv"}
    assert not (out / "compare.png").exists() and (out / "summary.csv").stat().st_size
    (warning,) = report.warnings
    assert warning.startswith("figure skipped") and "harness-research[plot]" in warning


#: ``harness compare`` in a Python where ``import matplotlib`` fails, as in an environment
#: installed without it: a meta-path finder refuses the package, then the CLI runs.
NO_MATPLOTLIB = """
import sys


class NoMatplotlib:
    def find_spec(self, name, path=None, target=None):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r} (blocked)")
        return None


sys.meta_path.insert(0, NoMatplotlib())
from harness.commands import cli

cli(sys.argv[1:], prog_name="harness")
"""


def test_compare_without_matplotlib_still_writes_the_table_and_csvs(tmp_path):
    root = sweep(tmp_path / "sweep")
    result = subprocess.run(
        [sys.executable, "-c", NO_MATPLOTLIB, "compare", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = root / "compare"
    assert (out / "curves.csv").stat().st_size and (out / "summary.csv").stat().st_size
    assert not (out / "compare.png").exists()
    rows = [line.split(" | ") for line in result.stdout.splitlines() if line.startswith("| ")]
    assert [row[0] for row in rows[1:]] == ["| sampler=ucb1", "| sampler=random"]
    assert "Warning: figure skipped: compare.png needs matplotlib" in result.stderr
    assert "pip install matplotlib" in result.stderr and "Traceback" not in result.stderr
    assert f"wrote {out / 'summary.csv'}" in result.stdout and "compare.png" not in result.stdout


def test_compare_a_real_sweep_through_the_cli(tmp_path, cli):
    sweep_dir = tmp_path / "multirun"
    result = cli(
        "run",
        "-m",
        "+task=toy",
        "sampler=random,greedy",
        "seed=0,1",
        "run.max_evaluations=5",
        f"hydra.sweep.dir={sweep_dir}",
    )
    assert result.returncode == 0, result.stderr
    result = cli("compare", str(sweep_dir))
    assert result.returncode == 0, result.stderr
    rows = [line.split(" | ") for line in result.stdout.splitlines() if line.startswith("| ")]
    assert [row[:2] for row in rows[1:]] == [["| sampler=random", "2"], ["| sampler=greedy", "2"]]
    out = sweep_dir / "compare"
    assert f"wrote {out / 'compare.png'}" in result.stdout
    assert (out / "compare.png").read_bytes().startswith(PNG)
    curves = list(csv.DictReader((out / "curves.csv").open()))
    assert len(curves) == 4 * 5 and {c["seed"] for c in curves} == {"0", "1"}
    assert {c["group"] for c in curves} == {"sampler=random", "sampler=greedy"}
    summary = list(csv.DictReader((out / "summary.csv").open()))
    assert [(r["group"], r["runs"]) for r in summary] == [
        ("sampler=random", "2"),
        ("sampler=greedy", "2"),
    ]
    assert all(float(r["final_best_mean"]) >= 1.5 for r in summary)
