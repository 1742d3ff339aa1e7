"""``harness new-task``: write a complete, pip-installable task plugin from built-in templates.

The templates (``templates/*.j2``, Jinja2) are shipped as package data; :data:`FILES` maps
each file of the generated project to its template, so the layout lives in one place and a
dot-directory such as ``.github`` needs no template folder of its own (setuptools' globs
skip those).
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import jinja2

import harness

#: The generated project's files (``{name}`` is the task name) and the template of each.
FILES = {
    "pyproject.toml": "pyproject.toml.j2",
    "README.md": "README.md.j2",
    ".gitignore": "gitignore.j2",
    ".github/workflows/test.yml": "workflow.yml.j2",
    "harness_{name}/__init__.py": "package_init.py.j2",
    "harness_{name}/plugin.py": "plugin.py.j2",
    "harness_{name}/conf/__init__.py": "empty.py.j2",
    "harness_{name}/conf/task/__init__.py": "empty.py.j2",
    "harness_{name}/conf/task/{name}.yaml": "task.yaml.j2",
    "harness_{name}/seeds/start.py": "seed.py.j2",
    "tests/test_{name}.py": "test_task.py.j2",
}
#: Lower case, starts with a letter, single underscores between letters and digits, so that
#: ``harness_NAME`` is a module and ``harness-NAME`` a valid distribution name.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


class ScaffoldError(ValueError):
    """The name or the target directory cannot be used; the message says what to change."""


def check_name(name: str) -> str:
    """``name`` if it can name a task, its module and its distribution, else ScaffoldError."""
    if not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(
            f"task name {name!r} is not usable: use lower-case letters, digits and single "
            "underscores, starting with a letter (e.g. 'my_task')"
        )
    if name == "research":
        raise ScaffoldError("task name 'research' would make 'harness-research', the core's name")
    return name


def distribution(name: str) -> str:
    """The generated distribution's name: ``harness-NAME``, underscores as dashes."""
    return "harness-" + name.replace("_", "-")


def render(name: str, target: Path) -> list[Path]:
    """Write the project for task ``name`` into ``target`` (missing or empty); return the
    files written. Refuses a non-empty directory rather than mixing with what is there."""
    check_name(name)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(f"{target} already exists and is not empty: choose another --dir")
    camel = "".join(part.capitalize() for part in name.split("_"))
    context = {
        "name": name,
        "distribution": distribution(name),
        "package": f"harness_{name}",
        "task_class": f"{camel}Task",
        "conf_class": f"{camel}Config",
        "harness_version": harness.__version__,
    }
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_source),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    written = []
    for path, template in FILES.items():
        out = target / path.format(name=name)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(env.get_template(template).render(context), encoding="utf-8")
        written.append(out)
    return written


def _template_source(template: str) -> str:
    return (files("harness.scaffold") / "templates" / template).read_text(encoding="utf-8")
