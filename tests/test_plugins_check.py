"""``harness plugins --check``: each problem of an installed task plugin is a finding that
names the fix (exit status 1); a clean installation passes (exit status 0)."""

from __future__ import annotations

import json
from pathlib import Path

PLUGIN = """
from harness import EvalResult, Task, TaskSpec, hookimpl, run_candidate


class T(Task):
    name = "{name}"

    def spec(self, config):
        return TaskSpec(name="{name}", description="d", entry="f", seeds=("start",))

    def seed(self, config, name):
        return "def f():\\n    {body}\\n" if name == "start" else None

    def evaluate(self, config, program, workdir, limits, stage):
        run = run_candidate(program, "f", limits=limits, workdir=workdir)
        if not run.ok:
            return EvalResult(success=False, feedback=run.feedback(), error_class=run.error_class)
        return EvalResult(success=True, metrics={{"score": float(run.value)}})


@hookimpl
def {hook}(register):
    register(T())
"""
YAML = "# @package task\ndefaults:\n  - /harness_schema/task/{0}@_here_\n  - _self_\nname: {0}\n"


def make_plugin(
    root: Path,
    name: str,
    *,
    body: str = "return 1.0",
    yaml: bool = True,
    hook: str = "harness_register_tasks",
) -> str:
    """A task plugin package ``<name>_plugin`` under ``root``; its module name."""
    package = root / f"{name}_plugin"
    package.mkdir()
    (package / "__init__.py").write_text(PLUGIN.format(name=name, body=body, hook=hook))
    if yaml:
        (package / "conf" / "task").mkdir(parents=True)
        (package / "conf" / "__init__.py").write_text("")
        (package / "conf" / "task" / "__init__.py").write_text("")
        (package / "conf" / "task" / f"{name}.yaml").write_text(YAML.format(name))
    return package.name


def check(cli, root: Path, *modules: str, entry_points: str = "", plain: bool = False):
    """``harness plugins [--check --json]`` with only ``modules`` (and ``entry_points``)."""
    env = {
        "HARNESS_PLUGINS": ",".join(modules),
        "HARNESS_LOAD_PLUGINS": entry_points,
        "PYTHONPATH": str(root),
        "HARNESS_CONF_DIR": "",
    }
    return cli("plugins", *(() if plain else ("--check", "--json")), cwd=root, env=env)


def test_a_task_without_yaml_names_the_file_it_needs(cli, tmp_path):
    module = make_plugin(tmp_path, "bare", yaml=False)
    expected = tmp_path / module / "conf" / "task" / "bare.yaml"
    plain = check(cli, tmp_path, module, plain=True)
    assert plain.returncode == 0 and "tasks: bare" in plain.stdout
    warnings = [line for line in plain.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and str(expected) in warnings[0]
    result = check(cli, tmp_path, module)
    assert result.returncode == 1, result.stderr
    [finding] = json.loads(result.stdout)
    assert (finding["plugin"], finding["task"], finding["check"]) == (module, "bare", "yaml")
    assert str(expected) in finding["message"] and "package data" in finding["message"]


def test_a_failing_seed_is_a_finding(cli, tmp_path):
    module = make_plugin(tmp_path, "sour", body="return 1 / 0")
    result = check(cli, tmp_path, module)
    assert result.returncode == 1, result.stderr
    [finding] = json.loads(result.stdout)
    assert (finding["task"], finding["check"]) == ("sour", "seed")
    assert "seed 'start' fails its evaluation" in finding["message"]
    assert "ZeroDivisionError" in finding["message"] and "harness eval" in finding["message"]


def test_a_misspelled_hook_names_the_plugin_and_the_real_hook(cli, tmp_path):
    typo = make_plugin(tmp_path, "typo", hook="harness_register_task")
    clean = make_plugin(tmp_path, "clean")
    result = check(cli, tmp_path, typo, clean)
    assert result.returncode == 1, result.stderr
    [finding] = json.loads(result.stdout)  # the clean plugin is still checked, and passes
    assert (finding["plugin"], finding["check"]) == (typo, "hook")
    assert "'harness_register_task' is not a harness hook" in finding["message"]
    assert "rename it to 'harness_register_tasks'" in finding["message"]
    text = cli(
        "plugins",
        "--check",
        env={"HARNESS_PLUGINS": typo, "HARNESS_LOAD_PLUGINS": "", "PYTHONPATH": str(tmp_path)},
    )
    assert text.returncode == 1 and f"plugin {typo}: 'harness_register_task'" in text.stdout
    plain = check(cli, tmp_path, typo, plain=True)
    assert plain.returncode == 1 and "harness plugins --check" in plain.stderr


def test_a_clean_installation_passes(cli, tmp_path):
    clean = make_plugin(tmp_path, "clean")
    result = check(cli, tmp_path, clean, entry_points="harness-circle-packing")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []
    text = cli(
        "plugins",
        "--check",
        cwd=tmp_path,
        env={"HARNESS_PLUGINS": clean, "HARNESS_LOAD_PLUGINS": "", "PYTHONPATH": str(tmp_path)},
    )
    assert text.returncode == 0 and text.stdout.strip() == "All checks passed."
    plain = check(cli, tmp_path, clean, plain=True)
    assert plain.returncode == 0 and "warning" not in plain.stderr
