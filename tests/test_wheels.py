"""Every distribution installed as a user installs it: built into a wheel from a copy of its
source outside git, installed into a fresh virtual environment, used from there.

Editable installs read conf files, seeds and templates from the source tree, so a wheel
that forgot them (undeclared package data) would pass every other test. Here the fresh
environment holds only the wheels; their third-party dependencies (torch, trl, ...) are
borrowed from the test environment, linked into the fresh site-packages with every
harness distribution and editable hook left out, so nothing of the source tree can be
imported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = {  # source folder -> (wheel name prefix, files the wheel must carry)
    ".": ("harness_research", ["harness/conf/config.yaml", "harness/conf/run/default.yaml",
                               "harness/llm/templates/researcher.user.j2",
                               "harness/sandbox/_runner.py", "harness/sandbox/_ns_launcher.py",
                               "harness/scaffold/templates/plugin.py.j2",
                               "hydra_plugins/harness_searchpath.py"]),
    "plugins/tasks/circle_packing": ("harness_circle_packing", [
        "harness_circle_packing/conf/task/circle_packing.yaml",
        "harness_circle_packing/seeds/naive.py",
        "harness_circle_packing/conf/task/circle_packing_c.yaml",
        "harness_circle_packing/seeds/naive.c"]),
    "plugins/tasks/peak_detection": ("harness_peak_detection", [
        "harness_peak_detection/conf/task/peak_detection.yaml",
        "harness_peak_detection/seeds/baseline/pipeline.py",
        "harness_peak_detection/seeds/baseline/detect.py"]),
    "plugins/tasks/arch_linear_attn": ("harness_arch_linear_attn", [
        "harness_arch_linear_attn/conf/task/arch_linear_attn.yaml",
        "harness_arch_linear_attn/seeds/deltanet.py"]),
    "plugins/tasks/rl_algo": ("harness_rl_algo", [
        "harness_rl_algo/conf/task/rl_algo.yaml", "harness_rl_algo/seeds/grpo.py"]),
    "plugins/tasks/data_curation": ("harness_data_curation", [
        "harness_data_curation/conf/task/data_curation.yaml",
        "harness_data_curation/conf/task/data_curation/scale/gpu.yaml",
        "harness_data_curation/seeds/naive.py"]),
    "plugins/tasks/biomed": ("harness_biomed", [
        "harness_biomed/conf/task/biomed.yaml", "harness_biomed/conf/task/biomed/scale/gpu.yaml",
        "harness_biomed/seeds/drugban.py"]),
    "plugins/backends/local_llm": ("harness_local_llm", ["harness_local_llm/conf/llm/local.yaml"]),
    "plugins/backends/minilm": ("harness_minilm", ["harness_minilm/conf/cognition/minilm.yaml"]),
    "plugins/loggers/mlflow": ("harness_mlflow", ["harness_mlflow/conf/logger/mlflow.yaml"]),
}  # fmt: skip
#: task -> its seed program inside the installed wheel (a directory for a multi-file seed)
SEEDS = {
    "peak_detection": "harness_peak_detection/seeds/baseline",
    "circle_packing": "harness_circle_packing/seeds/naive.py",
    "circle_packing_c": "harness_circle_packing/seeds/naive.c",
    "arch_linear_attn": "harness_arch_linear_attn/seeds/deltanet.py",
    "rl_algo": "harness_rl_algo/seeds/grpo.py",
    "data_curation": "harness_data_curation/seeds/naive.py",
    "biomed": "harness_biomed/seeds/drugban.py",
}
#: task -> overrides that keep its evaluation short: what is checked here is that the wheel's
#: seed, conf and data load and evaluate, not the proxies' budgets (their plugins' tests)
OVERRIDES = {
    "arch_linear_attn": ["task.proxy.steps=20", "task.proxy.train_tokens=20000",
                         "task.proxy.seq_len=64", "task.proxy.eval_rows_per_length=32",
                         "task.proxy.mqar_eval_examples=128", "task.proxy.warmup_steps=5",
                         "task.sanity.cost_seq_len=256", "task.seeds=[0]",
                         "task.data.source=synthetic"],
    "rl_algo": ["task.warmup.steps=100", "task.grpo.steps=2", "task.grpo.prompts_per_step=4",
                "task.grpo.group_size=4", "task.eval.problems=40", "task.seeds=[0]"],
    "data_curation": ["task.corpus.clean_docs=300", "task.corpus.heldout=60",
                      "task.corpus.order_items=40", "task.corpus.cloze_items=40",
                      "task.train.steps=10", "task.seeds=[0]"],
    "biomed": ["task.synthetic.size=quick", "task.seeds=[0]", "task.train.epochs=1",
               "task.quick.epochs=1", "task.quick.threshold=0"],
}  # fmt: skip
OURS = ("harness_", "__editable__", "hydra_plugins")


@dataclass
class Installed:
    wheels: dict[str, Path]
    python: Path
    harness: Path
    site: Path
    env: dict[str, str]
    cwd: Path


def _copy_source(source: Path, target: Path) -> Path:
    """The distribution's source as a user's unpacked sdist would be: no git, no build
    leftovers, no egg-info that could list files the configuration does not declare."""
    ignore = shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "tests", "runs",
        "multirun", ".wheels", "plugins", "benchmarks",
    )  # fmt: skip
    shutil.copytree(source, target, ignore=ignore)
    return target


def _borrow_dependencies(site: Path) -> None:
    """Link the test environment's third-party packages into the fresh ``site``-packages
    (where an installer would have put them), leaving out everything of ours."""
    source = Path(sysconfig.get_paths()["purelib"])
    for entry in source.iterdir():
        if entry.name.startswith(OURS) or entry.suffix == ".pth" or (site / entry.name).exists():
            continue
        (site / entry.name).symlink_to(entry)
    hydra = source / "hydra_plugins"  # a namespace package: Hydra's launchers, and ours
    for entry in hydra.iterdir() if hydra.is_dir() else ():
        if not entry.name.startswith(("harness", "__pycache__")):
            (site / "hydra_plugins" / entry.name).symlink_to(entry)


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    # Not under /tmp, which the sandbox replaces: candidates import numpy from here.
    root = Path(tempfile.mkdtemp(prefix="harness-wheels-", dir="/var/tmp")).resolve()
    try:
        yield _install(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _install(root: Path) -> Installed:
    wheels: dict[str, Path] = {}
    for folder, (prefix, _) in DISTRIBUTIONS.items():
        source = _copy_source(ROOT / folder, root / "src" / prefix)
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
             "--no-build-isolation", "-w", str(root / "dist"), str(source)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        (wheels[folder],) = (root / "dist").glob(f"{prefix}-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         *map(str, wheels.values())],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    _borrow_dependencies(site)
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_PLUGINS", "PYTHONPATH")}
    env.update(HOME=str(root / "home"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cwd = root / "elsewhere"
    cwd.mkdir()
    return Installed(wheels, python, venv / "bin" / "harness", site, env, cwd)


def run(installed: Installed, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(installed.harness), *args], cwd=installed.cwd, env=installed.env,
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def test_every_wheel_carries_its_conf_seeds_and_templates(installed: Installed) -> None:
    for folder, (_, required) in DISTRIBUTIONS.items():
        names = set(zipfile.ZipFile(installed.wheels[folder]).namelist())
        missing = [name for name in required if name not in names]
        assert not missing, f"{installed.wheels[folder].name} lacks {missing}"


def test_the_fresh_environment_imports_the_wheels_not_the_source(installed: Installed) -> None:
    code = (
        "import harness, harness_circle_packing, harness_rl_algo; "
        "print(harness.__file__); print(harness_rl_algo.__file__)"
    )
    result = subprocess.run(
        [str(installed.python), "-c", code], cwd=installed.cwd, env=installed.env,
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    for path in result.stdout.split():
        assert Path(path).is_relative_to(installed.site), path


def test_harness_plugins_lists_every_installed_plugin(installed: Installed) -> None:
    result = run(installed, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    listed = {entry["distribution"]: entry for entry in json.loads(result.stdout)}
    assert set(listed) == {
        "harness-circle-packing", "harness-arch-linear-attn", "harness-rl-algo",
        "harness-local-llm", "harness-minilm", "harness-data-curation", "harness-biomed",
        "harness-mlflow", "harness-peak-detection",
    }  # fmt: skip
    tasks = sorted(task for entry in listed.values() for task in entry["tasks"])
    assert tasks == sorted(SEEDS)
    assert "harness_register_proposers" in listed["harness-local-llm"]["hooks"]
    assert "harness_register_embedders" in listed["harness-minilm"]["hooks"]
    assert "harness_register_loggers" in listed["harness-mlflow"]["hooks"]


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(SEEDS))
def test_each_task_evaluates_its_seed_from_the_wheels(installed: Installed, task: str) -> None:
    """One ``harness eval`` per task, of the seed as the wheel ships it, at a small budget:
    arch_linear_attn and rl_algo train shrunken CPU proxies cold (their baselines too),
    data_curation builds a small corpus and trains for 10 steps, biomed trains one epoch
    on its quick set."""
    seed = installed.site / SEEDS[task]
    extra = OVERRIDES.get(task, [])
    result = run(installed, "eval", f"+task={task}", "--program", str(seed), *extra, "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(result.stdout)
    assert payload["success"] is True, payload.get("feedback")
    assert isinstance(payload["score"], float), payload
