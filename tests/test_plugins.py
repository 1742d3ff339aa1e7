"""Plugin loading: entry points, the allow-list, loud failures, dispatch by task name."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from pathlib import Path

import pytest
from helpers import registered

from harness import Task, TaskSpec, plugins
from harness.confpaths import allowed_entry_points
from harness.hookspecs import hookimpl

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugin-hooks.md"


def test_installed_entry_point_plugin_and_env_plugin_are_listed(cli):
    rows = json.loads(cli("plugins", "--json").stdout)
    by_name = {row["name"]: row for row in rows}
    assert "circle_packing" in by_name, "the pip-installed plugin loads through its entry point"
    circle = by_name["circle_packing"]
    assert circle["distribution"] == "harness-circle-packing" and circle["version"]
    assert "harness_register_tasks" in circle["hooks"]
    assert circle["tasks"] == ["circle_packing", "circle_packing_c"]
    assert by_name["harness_toy"]["tasks"] == ["noisy", "toy"]


def test_allow_list_limits_entry_point_plugins(cli):
    none = json.loads(cli("plugins", "--json", env={"HARNESS_LOAD_PLUGINS": ""}).stdout)
    assert "circle_packing" not in {row["name"] for row in none}
    some = json.loads(
        cli("plugins", "--json", env={"HARNESS_LOAD_PLUGINS": "harness-circle-packing"}).stdout
    )
    assert "circle_packing" in {row["name"] for row in some}


def test_builtins_are_plugins_too(cli):
    rows = json.loads(cli("plugins", "--json", "--all").stdout)
    hooks = {h for row in rows for h in row["hooks"]}
    assert {"harness_register_samplers", "harness_register_proposers"} <= hooks


def test_misspelled_hook_implementation_fails_loudly(tmp_path, cli):
    (tmp_path / "typo_plugin.py").write_text(
        "from harness import hookimpl\n\n@hookimpl\ndef harness_evalute(config, program):\n"
        "    return None\n"
    )
    env = {
        "HARNESS_PLUGINS": "harness_toy,typo_plugin",
        "PYTHONPATH": f"{tmp_path}:{Path(__file__).parent / 'toy'}",
    }
    result = cli("plugins", env=env)
    assert result.returncode == 1
    assert "harness_evalute" in result.stderr and "HARNESS_LOAD_PLUGINS" in result.stderr


class _SpyTask(Task):
    name = "spy"

    def spec(self, config):
        _Spy.calls.append(config["name"])
        return TaskSpec(name="spy", description="", entry="f")


class _Spy:
    """A second task plugin whose task would answer every call if it were asked."""

    calls: list[str] = []

    @hookimpl
    def harness_register_tasks(self, register):
        register(_SpyTask())


def test_a_task_is_reached_only_through_its_own_object():
    plugins.load_plugins()
    spy = _Spy()
    plugins.pm.register(spy, name="spy")
    plugins.reset()
    try:
        assert "spy" in plugins.task_names()
        spec = plugins.get_task("toy").spec({"name": "toy"})
        assert spec.name == "toy" and _Spy.calls == []
        assert plugins.get_task("spy").spec({"name": "spy"}).name == "spy"
        assert _Spy.calls == ["spy"]
    finally:
        plugins.pm.unregister(spy)
        plugins.reset()


class _Registers:
    """A plugin whose hooks register whatever it is given."""

    def __init__(self, task=None, schema=None):
        self.task, self.schema = task, schema

    @hookimpl
    def harness_register_tasks(self, register):
        if self.task is not None:
            register(self.task)

    @hookimpl
    def harness_register_schemas(self, register):
        if self.schema is not None:
            register(*self.schema)


def test_two_plugins_registering_one_task_name_fail_at_load():
    clash = type("Clash", (_SpyTask,), {"name": "toy"})()
    with registered(_Registers(task=clash)):
        with pytest.raises(ValueError, match="task 'toy' is registered by two plugins"):
            plugins.load_plugins()


def test_a_task_is_registered_as_a_task_object():
    with registered(_Registers(task="mine")):
        with pytest.raises(TypeError, match="register a harness.task.Task instance"):
            plugins.load_plugins()


@dataclasses.dataclass
class _MineConf:
    name: str = "mine"


def test_plugins_register_config_schemas_and_tasks_bring_theirs():
    from harness_toy import ToyConf

    with registered(_Registers(schema=("sampler", "mine", _MineConf))):
        schemas = plugins.schemas()
        assert schemas["sampler", "mine"] is _MineConf
        assert schemas["task", "toy"] is ToyConf
    with registered(_Registers(schema=("sampler", "ucb1", _MineConf))):
        with pytest.raises(ValueError, match="schema sampler/ucb1 is registered twice"):
            plugins.schemas()


def test_every_hook_is_documented_with_its_signature():
    text = DOCS.read_text()
    for name in dir(plugins.pm.hook):
        if not name.startswith("harness_"):
            continue
        caller = getattr(plugins.pm.hook, name)
        signature = f"{name}({', '.join(caller.spec.argnames)})"
        assert re.search(rf"^### `{re.escape(signature)}`", text, re.M), signature


def test_plugins_can_add_commands(tmp_path, cli):
    (tmp_path / "cmd_plugin.py").write_text(
        "import click\nfrom harness import hookimpl\n\n@hookimpl\n"
        "def harness_register_commands(cli):\n"
        "    @cli.command()\n    def hello():\n        click.echo('hello from a plugin')\n"
    )
    env = {
        "HARNESS_PLUGINS": "harness_toy,cmd_plugin",
        "PYTHONPATH": f"{tmp_path}:{Path(__file__).parent / 'toy'}",
    }
    result = cli("hello", env=env)
    assert result.returncode == 0 and result.stdout.strip() == "hello from a plugin"


def test_plugins_load_once_when_threads_start_together():
    """Evaluation threads that first look up a task at the same moment must not register
    an entry-point plugin twice ("Plugin name already registered")."""
    names = [ep.name for ep in allowed_entry_points()]
    assert names, "the toy plugin is installed for the tests"
    for name in names:
        plugins.pm.unregister(name=name)
    plugins.reset()
    barrier, errors = threading.Barrier(8), []

    def load() -> None:
        barrier.wait()
        try:
            plugins.load_plugins()
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for ep in allowed_entry_points():
        assert plugins.pm.get_plugin(ep.name) is ep.load(), f"{ep.name} is registered once"
    task_plugins = [impl.plugin for impl in plugins.pm.hook.harness_register_tasks.get_hookimpls()]
    assert len(task_plugins) == len(set(map(id, task_plugins)))
    assert {"toy", "circle_packing"} <= set(plugins.task_names())
    spec = plugins.get_task("toy").spec({"name": "toy"})
    assert (spec.name, spec.entry, spec.best_known) == ("toy", "f", 10.0)
