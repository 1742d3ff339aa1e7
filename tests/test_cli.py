"""The command line as a user meets it: errors with hints, eval, status, plugins."""

from __future__ import annotations

import json

import pytest


def test_missing_task_lists_installed_tasks(cli):
    result = cli("run")
    assert result.returncode == 2
    assert "No task selected" in result.stderr and "toy" in result.stderr


def test_unknown_task_says_did_you_mean(cli):
    result = cli("run", "+task=tyo")
    assert result.returncode == 2
    assert "Did you mean 'toy'?" in result.stderr


def test_unknown_sampler_says_did_you_mean(cli):
    result = cli("run", "+task=toy", "sampler=ucb")
    assert result.returncode == 2 and "Did you mean 'ucb1'?" in result.stderr


def test_run_then_status_json(tmp_path, cli):
    run_dir = tmp_path / "r"
    result = cli("run", "+task=toy", "run.max_evaluations=6", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr
    assert "evaluated 6" in result.stdout
    status = json.loads(cli("status", str(run_dir), "--json").stdout)
    assert status["nodes"] == 6 and status["evaluated"] == 6
    assert status["status"] == "finished" and status["best_known"] == 10.0
    for key in ("failed", "best_score", "seed_score", "llm_calls", "tokens_in", "tokens_out"):
        assert key in status
    assert (run_dir / ".hydra" / "config.yaml").exists()


def test_status_takes_the_best_known_score_from_the_runs_own_task_config(tmp_path, cli):
    """The best known sum depends on the run's n (26: 2.635983, 32: 2.939572, the plugin's
    table): status must build the spec from the config the run recorded, not defaults."""
    run_dir = tmp_path / "r"
    result = cli(
        "run", "+task=circle_packing", "task.n=32", "run.max_evaluations=2", "run.workers=1",
        f"hydra.run.dir={run_dir}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    status = json.loads(cli("status", str(run_dir), "--json").stdout)
    assert status["best_known"] == 2.939572


def test_multirun_makes_one_directory_per_combination(tmp_path, cli):
    result = cli(
        "run",
        "-m",
        "+task=toy",
        "sampler=ucb1,random",
        "seed=0,1",
        "run.max_evaluations=3",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr
    dbs = sorted(tmp_path.glob("*/harness.db"))
    assert len(dbs) == 4


def test_eval_reports_success_and_failure(tmp_path, cli):
    good = tmp_path / "good.py"
    good.write_text("def f():\n    return 4.0\n")
    result = cli("eval", "+task=toy", "--program", str(good), "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["success"] is True and payload["score"] == 4.0

    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    raise ValueError('nope')\n")
    payload = json.loads(cli("eval", "+task=toy", "--program", str(bad), "--json").stdout)
    assert payload["success"] is False and "ValueError: nope" in payload["feedback"]


def test_eval_usage_errors_exit_non_zero(tmp_path, cli):
    assert cli("eval", "+task=toy", "--program", str(tmp_path / "missing.py")).returncode == 2
    prog = tmp_path / "p.py"
    prog.write_text("def f():\n    return 1\n")
    assert cli("eval", "--program", str(prog)).returncode == 2
    assert cli("eval", "+task=nope", "--program", str(prog)).returncode == 2


def test_eval_of_a_file_that_is_not_utf8_is_a_failed_result(tmp_path, cli):
    latin1 = tmp_path / "latin1.py"
    data = "def f():\n    return 4.0  # café\n".encode("latin-1")
    latin1.write_bytes(data)
    offset = data.index(b"\xe9")
    result = cli("eval", "+task=toy", "--program", str(latin1), "--json")
    assert "Traceback" not in result.stderr, result.stderr
    payload = json.loads(result.stdout)
    assert payload["success"] is False and payload["score"] is None
    assert payload["error_class"] == "encoding"
    feedback = payload["feedback"]
    assert "not valid UTF-8" in feedback and f"byte offset {offset} (line 2" in feedback
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    raise ValueError('nope')\n")
    failed = cli("eval", "+task=toy", "--program", str(bad), "--json")
    assert result.returncode == failed.returncode  # exits as any failed evaluation does

    text = cli("eval", "+task=toy", "--program", str(latin1))
    assert text.returncode == failed.returncode and "Traceback" not in text.stderr
    rows = [line.split() for line in text.stdout.splitlines()]
    assert ["success", "False"] in rows and ["error", "encoding"] in rows
    assert f"byte offset {offset} (line 2" in text.stdout


def test_eval_of_a_directory_reads_it_as_a_tree(tmp_path, cli):
    """A directory is a multi-file program (the toy task runs a tree's ``main:f``): a file
    in it that is not UTF-8 is named, a tree without the entry's module says so, and an
    empty directory is a usage error."""
    tree = tmp_path / "tree"
    (tree / "pkg").mkdir(parents=True)
    (tree / "main.py").write_text("def f():\n    return 4.0\n")
    (tree / "pkg" / "data.py").write_bytes("X = 'café'\n".encode("latin-1"))
    (tree / ".git").mkdir()
    (tree / ".git" / "index").write_bytes(b"\xff\xfe")  # ignored, as Tree.read ignores it
    payload = json.loads(cli("eval", "+task=toy", "--program", str(tree), "--json").stdout)
    assert payload["error_class"] == "encoding"
    assert payload["feedback"].startswith("pkg/data.py: the program is not valid UTF-8")
    (tree / "pkg" / "data.py").write_text("X = 1\n")
    payload = json.loads(cli("eval", "+task=toy", "--program", str(tree), "--json").stdout)
    assert payload["success"] is True and payload["score"] == 4.0
    (tree / "main.py").rename(tree / "app.py")
    payload = json.loads(cli("eval", "+task=toy", "--program", str(tree), "--json").stdout)
    assert payload["success"] is False and payload["error_class"] == "missing_entry"
    assert "the program has no module 'main'" in payload["feedback"]
    assert "app.py" in payload["feedback"], "the tree's files are listed"
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("eval", "+task=toy", "--program", str(empty))
    assert result.returncode == 2 and f"no files under {empty}" in result.stderr


def test_status_of_a_non_run_directory_is_an_error(tmp_path, cli):
    assert cli("status", str(tmp_path)).returncode == 2


def test_openai_without_a_model_is_a_clear_error(tmp_path, cli):
    result = cli("run", "+task=toy", "llm=openai", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 1
    assert "llm.model" in result.stderr and "Traceback" not in result.stderr


def test_run_refuses_a_directory_that_holds_a_run(tmp_path, cli):
    assert cli("run", "+task=toy", "run.max_rounds=1", f"hydra.run.dir={tmp_path}").returncode == 0
    again = cli("run", "+task=toy", "run.max_rounds=1", f"hydra.run.dir={tmp_path}")
    assert again.returncode == 1 and "harness resume" in again.stderr


def test_eval_with_a_bad_override_is_a_usage_error(tmp_path, cli):
    prog = tmp_path / "p.py"
    prog.write_text("def f():\n    return 1\n")
    for bad in ("sampler.cc=3", "not-an-override"):
        result = cli("eval", "+task=toy", bad, "--program", str(prog))
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr


def test_a_misconfigured_sandbox_stops_before_the_run(tmp_path, cli):
    result = cli("run", "+task=toy", f"hydra.run.dir={tmp_path}", env={"HARNESS_SANDBOX": "chroot"})
    assert result.returncode == 1 and "HARNESS_SANDBOX" in result.stderr


@pytest.mark.parametrize(
    "override", ["run.workers=0", "task.memory_mb=1", "run.max_evaluations=-3", "task.timeout_s=0"]
)
def test_out_of_range_settings_stop_a_run_before_its_directory_exists(tmp_path, cli, override):
    run_dir = tmp_path / "run"
    result = cli("run", "+task=toy", override, f"hydra.run.dir={run_dir}")
    assert result.returncode == 2, result.stderr
    assert f"{override.split('=')[0]}=" in result.stderr and "Traceback" not in result.stderr
    assert not run_dir.exists(), "a refused run left a stray run directory"


def test_eval_refuses_an_out_of_range_limit(tmp_path, cli):
    prog = tmp_path / "p.py"
    prog.write_text("def f():\n    return 1\n")
    result = cli("eval", "+task=toy", "task.memory_mb=1", "--program", str(prog))
    assert result.returncode == 2 and "task.memory_mb=1" in result.stderr, result.stderr
