"""``harness new-task``: the generated plugin installs (non-editable, so its package data is
really exercised), passes its own tests and lint, and an offline run improves its seed.

The generated project is installed into a fresh virtual environment that sees the test
environment's packages through a ``.pth`` file calling ``site.addsitedir`` (``venv
--system-site-packages`` would see the base interpreter's, not this virtualenv's), with
``--no-deps --no-build-isolation`` and no package index: no network. Under /var/tmp, not
/tmp, which the sandbox replaces: the candidates run with the fresh environment's Python.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import chained_venv

from harness.commands import cli
from harness.scaffold import FILES, render

RUFF = Path(sys.executable).with_name("ruff")
#: The ``harness`` command in the fresh environment, which has no console script of its own.
HARNESS = "from harness.commands import cli; cli(prog_name='harness')"


@dataclass
class Project:
    root: Path
    source: Path
    python: Path
    env: dict[str, str]


def _run(project: Project, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(project.python), *args], cwd=project.root, env=project.env,
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def project() -> Iterator[Project]:
    root = Path(tempfile.mkdtemp(prefix="harness-new-task-", dir="/var/tmp")).resolve()
    try:
        yield _generate_and_install(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _generate_and_install(root: Path) -> Project:
    source = root / "harness-demo"
    result = CliRunner().invoke(cli, ["new-task", "demo", "--dir", str(source)])
    assert result.exit_code == 0, result.output
    venv = root / "venv"
    python = chained_venv(venv)
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_PLUGINS", "PYTHONPATH")}
    env.update(HOME=str(root / "home"), PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    project = Project(root, source, python, env)
    install = _run(
        project, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
        str(source),
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    return project


def test_the_plugin_is_installed_with_its_package_data(project: Project) -> None:
    code = "import harness_demo; print(harness_demo.__file__)"
    package = Path(_run(project, "-c", code).stdout.strip()).parent
    assert package.is_relative_to(project.root / "venv"), package  # not the source tree
    for shipped in ("conf/task/demo.yaml", "seeds/start.py"):
        assert (package / shipped).is_file(), shipped


def test_the_generated_tests_pass(project: Project) -> None:
    result = _run(project, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project.source))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "3 passed" in result.stdout


def test_an_offline_run_beats_the_seed(project: Project) -> None:
    run_dir = project.root / "run"
    result = _run(
        project, "-c", HARNESS, "run", "+task=demo", "run.max_evaluations=20",
        f"hydra.run.dir={run_dir}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    status = _run(project, "-c", HARNESS, "status", str(run_dir), "--json")
    assert status.returncode == 0, status.stderr[-3000:]
    summary = json.loads(status.stdout)
    assert summary["evaluated"] == 20
    assert summary["best_score"] > summary["seed_score"], summary


def test_the_generated_code_passes_ruff(tmp_path: Path) -> None:
    source = tmp_path / "harness-demo"
    render("demo", source)
    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        result = subprocess.run(
            [str(RUFF), *command], cwd=source, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
    written = {str(p.relative_to(source)) for p in source.rglob("*") if p.is_file()}
    assert written == {path.format(name="demo") for path in FILES}
    pyproject = (source / "pyproject.toml").read_text()
    assert 'demo = "harness_demo.plugin"' in pyproject
    assert "harness-research[testing]" in pyproject
    workflow = (source / ".github/workflows/test.yml").read_text()
    assert "${{ matrix.python-version }}" in workflow and "pip install -e '.[test]'" in workflow


def test_every_template_is_used() -> None:
    """Each file under templates/ is named by FILES, which ``templates/*.j2`` ships."""
    shipped = {entry.name for entry in (files("harness.scaffold") / "templates").iterdir()}
    assert shipped == set(FILES.values())
    assert all(name.endswith(".j2") for name in shipped)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Demo", "lower-case letters"),
        ("my-task", "lower-case letters"),
        ("2d", "lower-case letters"),
        ("a__b", "single underscores"),
        ("research", "harness-research"),
    ],
)
def test_a_bad_name_is_a_usage_error(tmp_path: Path, name: str, message: str) -> None:
    result = CliRunner().invoke(cli, ["new-task", name, "--dir", str(tmp_path / "p")])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "p").exists()


def test_a_non_empty_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["new-task", "demo", "--dir", str(tmp_path)])
    assert result.exit_code == 2 and f"{tmp_path} already exists" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_the_default_directory_is_named_after_the_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["new-task", "my_task"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "harness-my-task/harness_my_task/conf/task/my_task.yaml").is_file()
    assert (
        'my_task = "harness_my_task.plugin"'
        in (tmp_path / "harness-my-task/pyproject.toml").read_text()
    )
