"""Researcher, analyzer and repair prompts: Jinja2 templates with a bounded size.

The released ASI-Evolve templates hid scores from the researcher and pasted every node's
full code and logs into the prompt. Here every node is shown with its score, and each
prompt is fitted into ``budget_chars`` characters (:mod:`harness.llm.prompt_budget`) by
trimming the least useful variables first (reference programs, then analyses and
feedback). The program being edited is never trimmed, because diff SEARCH text must be
copied from it exactly. The answers are read by :mod:`harness.llm.answers`.

The text itself lives in ``templates/`` (``<role>.system.j2`` and ``<role>.user.j2``), so a
run (``llm.prompts_dir``) or a task (``TaskSpec.prompts_dir``) can replace any of it; see
docs/prompts.md for the names, the variables and the lookup order.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
import traceback
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2

from harness.llm.base import (
    AnalysisRequest,
    MetaRequest,
    NodeView,
    ProposalRequest,
    RepairRequest,
)
from harness.llm.edits import EVOLVE_END, EVOLVE_START
from harness.llm.operators import CROSSOVER, PromptVariant, second_parent
from harness.llm.prompt_budget import Field, fit
from harness.llm.tree_view import file_views
from harness.task import CognitionItem, TaskSpec
from harness.tree import FileRule, Tree, is_tree

VARIABLES: dict[str, tuple[str, ...]] = {
    "researcher": (
        "task",
        "parent",
        "references",
        "cognition",
        "edit_mode",
        "max_code_chars",
        "recommendations",
        "operator",
        "output_template",
        "second_parent",
        "variant",
        "tree",
    ),
    "analyzer": ("task", "node", "reference", "diff"),
    "repair": ("task", "node", "attempt", "edit_mode", "tree"),
    "meta": ("task", "previous", "best", "recent", "version"),
}
"""The variables each role's two templates (system and user) receive: a public contract."""


def _fence(text: str) -> str:
    """Backticks enough that a fence inside ``text`` cannot close the block around it."""
    runs = re.findall(r"`{3,}", text)
    return "`" * max([3, *(len(run) + 1 for run in runs)])


def _environment(overrides: list[Path]) -> jinja2.Environment:
    """Templates from ``overrides`` in order, then the core's; ``base/NAME`` is always the
    core's, so an override can extend the template it replaces."""
    core = jinja2.PackageLoader("harness.llm", "templates")
    loader = jinja2.ChoiceLoader(
        [
            jinja2.PrefixLoader({"base": core}),
            *(jinja2.FileSystemLoader(path) for path in overrides),
            core,
        ]
    )
    environment = jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,  # a misspelt variable fails, not renders as ""
        autoescape=False,  # chat text, not HTML
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # checked once (PromptTemplates); no stat of every file per prompt
    )
    environment.filters["fence"] = _fence
    environment.globals.update(EVOLVE_START=EVOLVE_START, EVOLVE_END=EVOLVE_END)
    return environment


def _directory(path: str | os.PathLike[str], what: str) -> Path:
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_dir():
        raise ValueError(f"{what}: {resolved} is not a directory")
    return resolved


class PromptTemplates:
    """The prompt templates of one run: the run's directory, then the task's, then the core's.

    The run's templates are checked when this is created (a syntax error or an undefined
    variable is a ValueError naming the file and line, before the run starts); a task's
    directory arrives with each request, so its templates are checked on first use.
    """

    def __init__(self, prompts_dir: str | os.PathLike[str] | None = None) -> None:
        self.prompts_dir = None if prompts_dir is None else _directory(prompts_dir, "prompts_dir")
        self._environments: dict[Path | None, jinja2.Environment] = {}
        self.environment(None)

    def environment(self, task_dir: str | os.PathLike[str] | None) -> jinja2.Environment:
        """The checked environment for a task's template directory (``None``: no task's)."""
        key = None if task_dir is None else _directory(task_dir, "TaskSpec.prompts_dir")
        environment = self._environments.get(key)
        if environment is None:
            overrides = [path for path in (self.prompts_dir, key) if path is not None]
            environment = _environment(overrides)
            _check(environment)
            self._environments[key] = environment
        return environment


@functools.cache
def _core_templates() -> PromptTemplates:
    return PromptTemplates()


def _task(task: TaskSpec, fields: list[Field], level: int) -> SimpleNamespace:
    view = SimpleNamespace(
        name=task.name,
        description=task.description.strip(),
        entry=task.entry,
        language=task.language,
        new_files=list(task.new_files),
    )
    fields.append(Field(vars(view), "description", level))
    return view


def _node(
    node: NodeView,
    fields: list[Field],
    levels: Mapping[str, int],
    *,
    rules: tuple[FileRule, ...] = (),
    base: NodeView | None = None,
) -> SimpleNamespace:
    """A node as templates see it; ``levels`` names its trimmable fields (absent: never cut).

    A multi-file program also has ``files`` (its files by policy, :mod:`harness.llm.tree_view`)
    and, when ``base`` is given, ``diff``: its changes from ``base``'s program, shown instead
    of its files (references against the parent), trimmed as ``program`` is.
    """
    view = SimpleNamespace(
        id=node.id,
        name=node.name,
        score=node.score,
        success=node.success,
        status=node.status,
        error_class=node.error_class,
        metrics=json.dumps(node.metrics, sort_keys=True, default=str) if node.metrics else "",
        motivation=node.motivation.strip(),
        analysis=node.analysis.strip(),
        feedback=node.feedback.strip(),
        program=node.program.rstrip("\n"),
        files=[],
        diff=None,
        diff_from=None,
    )
    for name, level in levels.items():
        fields.append(Field(vars(view), name, level, "tail" if name == "feedback" else "head"))
    if is_tree(node.program):
        _tree(view, node, fields, levels, rules, base)
    return view


def _tree(
    view: SimpleNamespace,
    node: NodeView,
    fields: list[Field],
    levels: Mapping[str, int],
    rules: tuple[FileRule, ...],
    base: NodeView | None,
) -> None:
    """Add a tree node's ``files`` (and ``diff`` against ``base``) to its view: the files that
    may change are cut only as ``program`` is (never, for the program being edited); a
    ``blocks`` file gives way to its EVOLVE-BLOCKs, and a read-only file to its outline
    before anything else is cut."""
    program = levels.get("program")
    view.files = [SimpleNamespace(**vars(f)) for f in file_views(node.program, rules)]
    if base is not None:
        view.diff = Tree.parse(node.program).diff(Tree.parse(base.program)).rstrip("\n")
        view.diff_from = f"node {base.id}"
        for file in view.files:
            file.text = ""
        if program is not None:  # a diff is evidence: it outlasts read-only context
            fields.append(Field(vars(view), "diff", program + 1))
        return
    for file in view.files:
        if file.policy == "read_only":
            level: int | None = 0
        else:
            level = program if file.policy == "evolve" or program is None else min(2, program)
        if level is not None:
            fields.append(Field(vars(file), "text", level, short=file.short))
        elif file.policy == "blocks":  # its EVOLVE-BLOCKs are what the edits apply to
            fields.append(Field(vars(file), "text", 2, short=file.short, cut=False))


def _cognition(item: CognitionItem, fields: list[Field], level: int) -> SimpleNamespace:
    view = SimpleNamespace(id=item.id, content=item.content.strip(), source=item.source)
    fields.append(Field(vars(view), "content", level))
    return view


def _messages(
    environment: jinja2.Environment,
    role: str,
    context: dict[str, Any],
    fields: list[Field],
    budget_chars: int,
) -> list[dict[str, str]]:
    """The role's system and user messages, fitted into ``budget_chars``."""
    try:
        system = environment.get_template(f"{role}.system.j2")
        user = environment.get_template(f"{role}.user.j2")

        def render() -> tuple[str, str]:
            return system.render(context).strip(), user.render(context).strip()

        system_text, user_text = fit(render, fields, budget_chars)
    except Exception as exc:  # a template is code: any error in it is the template's
        raise _template_error(exc, role) from exc
    return [{"role": "system", "content": system_text}, {"role": "user", "content": user_text}]


def _template_error(exc: Exception, role: str) -> ValueError:
    """A ValueError naming the template file and line, and what the role's templates get."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        where = f"{exc.filename or exc.name}, line {exc.lineno}"
    else:  # Jinja2 rewrites the traceback so that template frames carry the template's lines
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
        where = f"{frames[-1].filename}, line {frames[-1].lineno}" if frames else "(no file)"
    reason = exc.message if isinstance(exc, jinja2.TemplateError) else str(exc)
    message = f"prompt template {where}: {type(exc).__name__}: {reason}"
    if isinstance(exc, jinja2.UndefinedError):
        message += (
            f" (the {role} templates receive {', '.join(VARIABLES[role])}; their fields are"
            " listed in docs/prompts.md)"
        )
    return ValueError(message)


def _edit_mode(edit_mode: str) -> str:
    """``edit_mode`` as the plain string templates compare with (the config gives an enum)."""
    for mode in ("diff", "full"):
        if edit_mode == mode:
            return mode
    raise ValueError(f"edit_mode must be 'diff' or 'full', not {edit_mode!r}")


def _researcher(
    request: ProposalRequest, edit_mode: str, max_code_chars: int | None
) -> tuple[dict[str, Any], list[Field]]:
    fields: list[Field] = []
    notes = {"metrics": 1, "motivation": 1, "analysis": 1, "feedback": 1}
    operator, variant = request.operator, request.variant
    if operator is not None:
        edit_mode = operator.edit_mode
    # A two-parent operator's second parent is shown whole, not among the references.
    second = second_parent(request) if operator is not None and operator.parents > 1 else None
    references = [node for node in request.references if node is not second]
    rules, parent = request.task.files, request.parent
    context = {
        "task": _task(request.task, fields, 4),
        "parent": _node(parent, fields, dict.fromkeys(notes, 2), rules=rules),
        "references": [
            _node(node, fields, {**notes, "program": 0}, rules=rules, base=_base(node, parent))
            for node in references
        ],
        "second_parent": None
        if second is None
        else _node(second, fields, notes, rules=rules, base=_base(second, parent)),
        "tree": is_tree(parent.program),
        "operator": None if operator is None else operator.name,
        "output_template": (
            f"output.{_edit_mode(edit_mode)}.j2" if operator is None else operator.output
        ),
        "variant": None if variant is None else SimpleNamespace(**vars(variant)),
        "cognition": [_cognition(item, fields, 3) for item in request.cognition],
        "edit_mode": _edit_mode(edit_mode),
        "max_code_chars": max_code_chars,
        "recommendations": request.recommendations.strip(),
    }
    fields.append(Field(context, "recommendations", 3))
    return context, fields


def _base(node: NodeView, parent: NodeView) -> NodeView | None:
    """The node a reference is shown against: the parent, when both are trees."""
    return parent if is_tree(node.program) and is_tree(parent.program) else None


def _analyzer(request: AnalysisRequest) -> tuple[dict[str, Any], list[Field]]:
    task, node, reference = request.task, request.node, request.reference
    fields: list[Field] = []
    notes = {"metrics": 1, "motivation": 1, "analysis": 1, "feedback": 1}
    diff = ""
    if reference is not None and _base(node, reference) is not None:
        diff = Tree.parse(node.program).diff(Tree.parse(reference.program))
    elif reference is not None:
        diff = "".join(
            difflib.unified_diff(
                reference.program.splitlines(keepends=True),
                node.program.splitlines(keepends=True),
                fromfile=f"reference (node {reference.id})",
                tofile=f"node {node.id}",
            )
        )
    context = {
        "task": _task(task, fields, 3),
        "node": _node(node, fields, {**dict.fromkeys(notes, 2), "program": 4}, rules=task.files),
        "reference": None
        if reference is None
        else _node(
            reference,
            fields,
            {**notes, "program": 0},
            rules=task.files,
            base=_base(reference, node),
        ),
        "diff": diff.rstrip("\n"),
    }
    fields.append(Field(context, "diff", 2))
    return context, fields


def _repair(request: RepairRequest, edit_mode: str) -> tuple[dict[str, Any], list[Field]]:
    fields: list[Field] = []
    levels = {"metrics": 0, "motivation": 0, "analysis": 0, "feedback": 1}
    context = {
        "task": _task(request.task, fields, 2),
        "node": _node(request.node, fields, levels, rules=request.task.files),
        "attempt": request.attempt,
        "edit_mode": _edit_mode(edit_mode),
        "tree": is_tree(request.node.program),
    }
    return context, fields


def _meta(request: MetaRequest) -> tuple[dict[str, Any], list[Field]]:
    fields: list[Field] = []
    levels = {"metrics": 1, "motivation": 1, "analysis": 2, "feedback": 0, "program": 0}
    recent = []
    for node, delta in zip(request.recent, request.deltas, strict=True):
        view = _node(node, fields, levels)
        view.delta = delta
        recent.append(view)
    context = {
        "task": _task(request.task, fields, 3),
        "previous": request.previous.strip(),
        "best": [_node(node, fields, levels) for node in request.best],
        "recent": recent,
        "version": request.version,
    }
    fields.append(Field(context, "previous", 2))
    return context, fields


def _check(environment: jinja2.Environment) -> None:
    """Render every role's templates from sample requests, both edit modes, with and without
    references (and a crossover with a prompt variant), so that a broken template fails now
    rather than in round 37."""
    task = TaskSpec(name="check", description="A sample task.", entry="solve")
    node = NodeView(
        id=2,
        name="sample",
        program="def solve():\n    return 1\n",
        score=0.5,
        success=True,
        motivation="a motivation",
        analysis="an analysis",
        feedback="some feedback",
        metrics={"runtime_s": 0.1},
    )
    failed = NodeView(
        id=1,
        name="seed",
        program="def solve():\n    return 0\n",
        status="failed",
        error_class="exception",
    )
    item = CognitionItem("a lesson", source="a source", id=1)
    full = ProposalRequest(task, node, [failed], [item], node_id=3, seed=0)
    bare = ProposalRequest(task, failed, [], [], node_id=3, seed=0)
    roomy = 1_000_000
    for edit_mode in ("diff", "full"):
        for request, max_code_chars in ((full, 1000), (bare, None)):
            context, fields = _researcher(request, edit_mode, max_code_chars)
            _messages(environment, "researcher", context, fields, roomy)
        context, fields = _repair(RepairRequest(task, failed, attempt=1, seed=0), edit_mode)
        _messages(environment, "repair", context, fields, roomy)
    crossover = replace(full, operator=CROSSOVER, variant=PromptVariant("check", "Be bold."))
    context, fields = _researcher(crossover, "diff", 1000)
    _messages(environment, "researcher", context, fields, roomy)
    for reference in (failed, None):
        context, fields = _analyzer(AnalysisRequest(task, node, reference))
        _messages(environment, "analyzer", context, fields, roomy)
    _check_trees(environment, node, failed)


def _check_trees(environment: jinja2.Environment, node: NodeView, failed: NodeView) -> None:
    """:func:`_check` for multi-file programs: every policy, references as diffs."""
    task = TaskSpec(
        name="check",
        description="A sample task.",
        entry="solve",
        files=(FileRule("ro.py", "read_only"), FileRule("blocks.py", "blocks")),
        new_files=("extra/*.py",),
    )
    files = {"ro.py": "def helper():\n    return 2\n", "blocks.py": "X = 1\n"}
    tree = replace(node, program=Tree.of({**files, "main.py": node.program}).text())
    other = replace(failed, program=Tree.of({**files, "main.py": failed.program}).text())
    roomy = 1_000_000
    for request in (
        ProposalRequest(task, tree, [other], [], node_id=3, seed=0),
        ProposalRequest(task, tree, [other], [], node_id=3, seed=0, operator=CROSSOVER),
    ):
        for edit_mode in ("diff", "full"):
            context, fields = _researcher(request, edit_mode, 1000)
            _messages(environment, "researcher", context, fields, roomy)
    context, fields = _repair(RepairRequest(task, other, attempt=1, seed=0), "diff")
    _messages(environment, "repair", context, fields, roomy)
    context, fields = _analyzer(AnalysisRequest(task, tree, other))
    _messages(environment, "analyzer", context, fields, roomy)
    for previous, recent in (("an earlier summary", [node, failed]), ("", [])):
        deltas: list[float | None] = [0.5, None][: len(recent)]
        meta = MetaRequest(task, previous, [node], recent, deltas, version=2, after_node=2)
        context, fields = _meta(meta)
        _messages(environment, "meta", context, fields, roomy)


def researcher_prompt(
    request: ProposalRequest,
    edit_mode: str,
    budget_chars: int,
    *,
    max_code_chars: int | None = None,
    templates: PromptTemplates | None = None,
) -> list[dict[str, str]]:
    """Chat messages asking for one improvement of ``request.parent`` in ``edit_mode``.

    Trimming order when over ``budget_chars``: reference programs, then reference
    analyses/motivations/metrics/feedback, then the parent's, then cognition items, then
    the task description; the parent program is never cut.
    """
    context, fields = _researcher(request, edit_mode, max_code_chars)
    environment = (templates or _core_templates()).environment(request.task.prompts_dir)
    return _messages(environment, "researcher", context, fields, budget_chars)


def analyzer_prompt(
    request: AnalysisRequest, budget_chars: int, *, templates: PromptTemplates | None = None
) -> list[dict[str, str]]:
    """Chat messages asking for an evidence-based analysis of ``request.node``.

    The reference (the best sampled node) is shown with a unified diff from its program to
    the node's. Trimming order: the reference program, then the reference's notes, then
    the diff and the node's feedback (its tail is kept), analysis and metrics, then the
    task description, and the node's program last.
    """
    context, fields = _analyzer(request)
    environment = (templates or _core_templates()).environment(request.task.prompts_dir)
    return _messages(environment, "analyzer", context, fields, budget_chars)


def meta_prompt(
    request: MetaRequest, budget_chars: int, *, templates: PromptTemplates | None = None
) -> list[dict[str, str]]:
    """Chat messages asking for the run's next meta-recommendations (docs/meta.md).

    Trimming order: the nodes' programs and feedback (not shown by the core's templates),
    then their metrics and motivations, then their analyses and the previous summary, then
    the task description.
    """
    context, fields = _meta(request)
    environment = (templates or _core_templates()).environment(request.task.prompts_dir)
    return _messages(environment, "meta", context, fields, budget_chars)


def repair_prompt(
    request: RepairRequest,
    edit_mode: str,
    budget_chars: int,
    *,
    templates: PromptTemplates | None = None,
) -> list[dict[str, str]]:
    """Chat messages asking the debug agent to fix ``request.node``'s failure.

    Trimming order: the node's notes (metrics, motivation, analysis) if a template shows
    them, then its error feedback (the tail is kept), then the task description; the
    failed program is never cut.
    """
    context, fields = _repair(request, edit_mode)
    environment = (templates or _core_templates()).environment(request.task.prompts_dir)
    return _messages(environment, "repair", context, fields, budget_chars)
