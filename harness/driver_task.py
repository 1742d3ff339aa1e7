"""The skeleton of a task whose candidate runs in the sandbox under the plugin's trusted driver.

Why a driver: a task that trains models cannot let the candidate report its own metrics (it
could forge them), nor import the candidate into the evaluator (it is untrusted). So the
candidate runs only in the sandbox, with the plugin's trusted modules executed beside it; the
driver there trains and leaves reports and files, and the evaluator (this process) checks
them and computes the metrics. The reference a score is measured against (a baseline model)
is trained once per setting and cached on disk. Plugins such as ``arch_linear_attn`` and
``rl_algo`` subclass :class:`DriverTask` and keep only what is their own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path
from typing import Any

import platformdirs
from filelock import FileLock

from harness.sandbox import Limits, run_candidate
from harness.task import (
    MISSING,
    CognitionItem,
    Descriptor,
    EvalResult,
    Noise,
    Stage,
    Task,
    TaskConf,
    TaskSpec,
)
from harness.tree import Tree, is_tree

#: Config keys that set a candidate's limits. The core passes on ``timeout_s`` and
#: ``memory_mb``; ``file_size_mb`` (trained weights can be gigabytes) only a driver task reads.
LIMIT_KEYS = ("timeout_s", "memory_mb", "file_size_mb")

#: Characters of a driver's stdout kept in the feedback (its last lines: the training log).
STDOUT_TAIL = 800

#: Appended to the candidate: executes the trusted sources as the modules ``<package>.<name>``
#: of a fresh stand-in package (the real one may be hidden in the sandbox, and a module may
#: import its sibling as ``from <package> import <name>``), so no name of the candidate is
#: shadowed; then the last module runs the stage with the candidate's globals (for a
#: multi-file candidate, the stub is a module of its own and passes its main module's).
_STUB = """

def {entry}(sources, stage, settings):
    import sys
    import types

    package = types.ModuleType({package!r})
    package.__path__ = []
    sys.modules[package.__name__] = package
    for name, source in sources.items():
        module = types.ModuleType(package.__name__ + "." + name)
        sys.modules[module.__name__] = module
        setattr(package, name, module)
        exec(compile(source, package.__name__ + "/" + name + ".py", "exec"), module.__dict__)
    return module.evaluate(stage, settings, {namespace})
"""
#: The stub's module in a multi-file candidate (:mod:`harness.tree`).
STUB_MODULE = "_harness_driver"


@dataclass
class DriverTaskConf(TaskConf):
    """The keys every driver task has; a plugin's schema subclasses it. The plugin's YAML and
    its ``scale`` config group set the values (``???`` here: a value the YAML must give)."""

    #: Largest file a sandboxed run may write, MiB (``None``: the sandbox's default).
    file_size_mb: int | None = None
    #: Torch threads per evaluation (keep ``run.workers`` x ``threads`` <= cores).
    threads: int = MISSING
    #: Training seeds; metrics are averaged over them.
    seeds: list[int] = MISSING
    #: Where training runs: ``cpu`` or ``cuda`` (the scale sets it).
    device: str = MISSING
    #: Where references are cached (``None``: a folder of the task under the user cache dir).
    cache_dir: str | None = None


@dataclass(frozen=True)
class Context:
    """What the stages of one evaluation share: the task config, the driver's settings (a
    fresh copy a stage may adjust) and the limits, with the config's own applied."""

    config: dict[str, Any]
    settings: dict[str, Any]
    limits: Limits


def cognition_items(rows: Iterable[tuple[str, str, str]]) -> tuple[CognitionItem, ...]:
    """``(topic, source, text)`` rows as cognition items, the topic kept as metadata: prior
    knowledge reads best as a table of prose, which is how a plugin writes it down."""
    return tuple(CognitionItem(text, source, {"topic": topic}) for topic, source, text in rows)


def user_cache_dir() -> Path:
    """The user's cache folder, as the platform defines it (``$XDG_CACHE_HOME`` or
    ``~/.cache`` on Linux)."""
    return Path(platformdirs.user_cache_dir())


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class DriverTask(Task):
    """A task whose candidate runs in the sandbox under the plugin's trusted driver.

    A subclass sets ``name``, ``package``, ``config_schema`` and the class attributes below,
    implements :meth:`describe` and, for each of its :attr:`stages`, a method of the same
    name, ``stage(context, program, workdir) -> EvalResult``. Its package holds
    ``seeds/<name>.py`` and the trusted modules; the last of those (``driver.py``) defines
    ``evaluate(stage, settings, candidate_globals)``, what the sandboxed child runs.
    """

    config_schema: type[TaskConf] = DriverTaskConf
    #: The seed programs, ``<package>/seeds/<name>.py``.
    seeds: tuple[str, ...] = ()
    #: The cascade, cheap checks first; each is run by the method of its name.
    stages: tuple[Stage, ...] = ()
    #: The task keys the driver gets (never a held-out seed: it runs beside the candidate).
    driver_keys: tuple[str, ...] = ()
    #: Human prior knowledge the researcher may be shown.
    cognition: tuple[CognitionItem, ...] = ()
    #: The plugin's version: part of the spec and of every cache key.
    version: str = "1"
    #: Modules of ``package`` executed beside the candidate, in this order; the last runs.
    trusted: tuple[str, ...] = ("driver",)
    #: Distributions whose versions are part of every cache key (torch...): a new version
    #: could move the numbers, so the reference is trained again.
    versioned: tuple[str, ...] = ()
    #: A stochastic score (:class:`Noise`): the last stage returns one sample per seed of
    #: the config's ``seeds``.
    noise: Noise | None = None
    #: In a multi-file candidate, the module whose globals the driver gets.
    tree_main: str = "main"

    @property
    def entry(self) -> str:
        """The function the stub adds to the candidate (no candidate defines it itself)."""
        return f"_harness_{self.name}_eval"

    # ----------------------------------------------------------------- the subclass's part

    def settings(self, config: dict[str, Any]) -> dict[str, Any]:
        """The driver's settings: a fresh JSON copy of the config's :attr:`driver_keys`."""
        return json.loads(json.dumps({key: config[key] for key in self.driver_keys}))

    def describe(self, settings: dict[str, Any]) -> str:
        """The researcher's task text for these settings."""
        raise NotImplementedError

    def descriptors(self, settings: dict[str, Any]) -> tuple[Descriptor, ...]:
        """The MAP-Elites behaviour axes for these settings (none by default)."""
        return ()

    def check(self, program: str) -> EvalResult | None:
        """The failed result of a program refused before it runs (``None``: it may run)."""
        return None

    # ----------------------------------------------------------------- the Task contract

    def upgrade_overrides(self, overrides: list[str]) -> list[str]:
        """Overrides saved before the scale became a config group: ``task.scale=S`` selects
        ``task/<name>/scale=S`` and ``task.scales.S.KEY=V`` is ``task.KEY=V`` for the scale
        in use (another scale's values never applied, so they are dropped)."""
        scale = "cpu"
        for item in overrides:
            if item.startswith("task.scale="):
                scale = item.split("=", 1)[1]
        upgraded = []
        for item in overrides:
            if item.startswith("task.scale="):
                upgraded.append(f"task/{self.name}/scale={scale}")
            elif item.startswith("task.scales."):
                chosen, _, rest = item.removeprefix("task.scales.").partition(".")
                if chosen == scale:
                    upgraded.append(f"task.{rest}")
            else:
                upgraded.append(item)
        return upgraded

    def spec(self, config: dict[str, Any]) -> TaskSpec:
        settings = self.settings(config)
        return TaskSpec(
            name=self.name,
            description=self.describe(settings),
            entry=self.entry,
            seeds=self.seeds,
            cognition=self.cognition,
            descriptors=self.descriptors(settings),
            stages=self.stages,
            timeout_s=float(config["timeout_s"]),
            memory_mb=int(config["memory_mb"]),
            version=self.version,
            noise=self.noise,
        )

    def seed(self, config: dict[str, Any], name: str) -> str | None:
        return self.seed_source(name) if name in self.seeds else None

    def evaluate(
        self,
        config: dict[str, Any],
        program: str,
        workdir: Path,
        limits: Limits,
        stage: str | None,
    ) -> EvalResult:
        if stage not in {s.name for s in self.stages}:
            raise ValueError(f"task {self.name!r} has no stage {stage!r}")
        started = time.monotonic()
        context = self.context(config, limits)
        run: Callable[[Context, str, Path], EvalResult] = getattr(self, stage)
        result = self.check(program) or run(context, program, workdir)
        result.metrics["eval_seconds"] = round(time.monotonic() - started, 2)
        return result

    def context(self, config: dict[str, Any], limits: Limits) -> Context:
        """The config, its driver settings and ``limits`` with the config's own applied."""
        return Context(config, self.settings(config), self.limits(config, limits))

    # ----------------------------------------------------------------- sources and the sandbox

    def seed_source(self, name: str) -> str:
        """The seed program ``name`` (needs no config: it is compared with candidates)."""
        return self._package_file(f"seeds/{name}.py")

    def trusted_source(self, module: str) -> str:
        """A trusted module's source. Read, not imported: importing it would import torch
        into every harness process that loads plugins (the CLI, workers), seconds each."""
        return self._package_file(f"{module}.py")

    def _package_file(self, path: str) -> str:
        if self.package is None:
            raise TypeError(f"{type(self).__name__}.package is not set")
        return (files(self.package) / path).read_text(encoding="utf-8")

    def compose(self, program: str) -> str:
        """The candidate, unchanged (its line numbers stay right), then the entry stub; a
        multi-file candidate gets the stub as the module :data:`STUB_MODULE`, handing the
        driver the globals of its :attr:`tree_main` module."""
        if not is_tree(program):
            stub = _STUB.format(entry=self.entry, package=self.package, namespace="globals()")
            return program.rstrip("\n") + "\n" + stub
        main = f"vars(__import__('importlib').import_module({self.tree_main!r}))"
        stub = _STUB.format(entry=self.entry, package=self.package, namespace=main)
        return Tree.parse(program).with_file(f"{STUB_MODULE}.py", stub.lstrip()).text()

    def driver_entry(self, program: str) -> str:
        """The entry :meth:`compose`'s program is run by: ``module:function`` for a tree."""
        return f"{STUB_MODULE}:{self.entry}" if is_tree(program) else self.entry

    def limits(self, config: dict[str, Any], limits: Limits) -> Limits:
        """``limits`` with the config's ``timeout_s``, ``memory_mb`` and ``file_size_mb`` where
        it sets them: the scale's (GPU training runs for hours, CUDA maps far more address
        space than it uses) hold for every sandboxed run, however the caller built them."""
        changes = {key: type(getattr(limits, key))(config[key])
                   for key in LIMIT_KEYS if config.get(key)}  # fmt: skip
        return dataclasses.replace(limits, **changes)

    def run_driver(
        self,
        program: str,
        stage: str,
        settings: dict[str, Any],
        limits: Limits,
        workdir: Path,
    ) -> tuple[dict[str, Any] | EvalResult, str]:
        """Run a driver stage beside ``program`` in the sandbox: (the driver's dict, or a
        failed result when the child died or returned no dict; the stdout tail as feedback)."""
        sources = {name: self.trusted_source(name) for name in self.trusted}
        run = run_candidate(
            self.compose(program),
            self.driver_entry(program),
            args=(sources, stage, settings),
            limits=limits,
            workdir=workdir,
        )
        tail = run.stdout.strip()[-STDOUT_TAIL:]
        extra = f"stdout (tail):\n{tail}" if tail else ""
        if not run.ok:
            feedback = f"{stage} failed: {run.feedback()}"
            return EvalResult(success=False, feedback=feedback, error_class=run.error_class), extra
        if not isinstance(run.value, dict):
            feedback = f"the {stage} stage returned {type(run.value).__name__}, not a dict"
            return EvalResult(success=False, feedback=feedback, error_class="invalid"), extra
        return run.value, extra

    # ----------------------------------------------------------------- the reference cache

    def cache_dir(self, config: dict[str, Any]) -> Path:
        """``task.cache_dir``, else ``harness-<name>`` under the user's cache folder."""
        raw = config.get("cache_dir")
        if raw:
            return Path(raw).expanduser()
        return user_cache_dir() / f"harness-{self.name.replace('_', '-')}"

    def cache_key(self, *parts: Any) -> str:
        """A short hash of ``parts`` (settings, trusted sources...), the plugin's version and
        the :attr:`versioned` distributions': anything that could move the numbers."""
        versions = {name: version(name) for name in self.versioned}
        data = json.dumps([parts, self.version, versions], sort_keys=True)
        return hashlib.sha256(data.encode()).hexdigest()[:24]

    def cached(
        self,
        config: dict[str, Any],
        name: str,
        make: Callable[[Path], None],
        valid: Callable[[Path], bool] = Path.is_file,
    ) -> Path:
        """The file ``name`` in the cache dir, made once by ``make(path)`` unless a ``valid``
        one is there. A file lock makes concurrent workers wait for one training instead of
        each running it; the file appears whole (written aside, then renamed) or not at all."""
        path = self.cache_dir(config) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(path.with_suffix(".lock")):
            if path.exists() and valid(path):
                return path
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            try:
                make(tmp)
                tmp.replace(path)
            finally:
                tmp.unlink(missing_ok=True)
        return path

    def cached_json(
        self,
        config: dict[str, Any],
        name: str,
        measure: Callable[[], Any],
        valid: Callable[[Any], bool],
    ) -> Any:
        """A measurement kept as JSON by :meth:`cached`; a cached value that is unreadable or
        not ``valid`` (an older format, a damaged file) is measured again."""

        def make(path: Path) -> None:
            path.write_text(json.dumps(measure()), encoding="utf-8")

        return _read_json(self.cached(config, name, make, lambda p: valid(_read_json(p))))
