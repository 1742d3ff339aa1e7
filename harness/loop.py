"""The round and the run: sample -> retrieve -> propose -> evaluate -> score -> analyze -> store.

Several rounds are in flight at once: ``run.workers`` evaluating in worker processes (an
executor) and up to ``run.buffer`` more proposed ahead of a free slot; proposals and
analyses are awaited on the event loop. A proposal equal to an earlier program (up to
comments and formatting) is stored as a duplicate instead of being evaluated; a task may
make its evaluation a cascade of stages; a failure may be handed to the LLM's debug agent
for repair (``run.repair_attempts``). The orchestrator is the
database's only writer. A node row is inserted as ``pending`` when its round starts and
completed in place, so after a kill ``resume`` re-runs exactly the rounds in flight and
keeps the numbering.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import sqlite_utils
from omegaconf import DictConfig, OmegaConf

from harness import db as store
from harness import plugins
from harness.analyzer import deterministic_analysis, raw_evaluation
from harness.canonical import canonical_hash
from harness.cognition import CognitionBase, EmbeddingError, build_queries, make_cognition
from harness.cognition.files import read_items
from harness.config import range_problems
from harness.executors import ExecutorError, make_executor
from harness.features import REFERENCE_SIZE, FeatureSpace
from harness.lifetime import make_undumpable
from harness.llm.base import (
    Analysis,
    AnalysisRequest,
    Learner,
    LLMCall,
    NodeView,
    Outcome,
    Proposal,
    ProposalRequest,
    Proposer,
    Repairer,
    RepairRequest,
)
from harness.progress import Progress
from harness.redact import declare as declare_secrets
from harness.samplers.base import Candidate, Sampler, Selection
from harness.sandbox import MODES, isolation, unisolated_refusal
from harness.task import CognitionItem, EvalResult
from harness.tasks import RunError, seed_program, task_limits, task_spec

log = logging.getLogger("harness")

#: Failures of the trusted side (evaluator or worker), not of the candidate.
EVALUATOR_FAILURES = ("evaluator_error", "worker_crash")


#: Stored feedback keeps its tail (where tracebacks end) up to this many characters.
MAX_FEEDBACK_CHARS = 20_000


def clip(feedback: str | None) -> str:
    """A backstop against task plugins that pass a candidate's whole output on."""
    text = feedback or ""
    if len(text) <= MAX_FEEDBACK_CHARS:
        return text
    cut = len(text) - MAX_FEEDBACK_CHARS
    return f"[... {cut} characters cut ...]\n{text[-MAX_FEEDBACK_CHARS:]}"


@dataclass
class Budget:
    max_evaluations: int | None
    max_rounds: int | None
    target_score: float | None
    max_seconds: float | None
    max_consecutive_failures: int
    max_cost_usd: float | None = None
    max_llm_outage_s: float | None = None

    @classmethod
    def from_config(cls, run: dict[str, Any]) -> Budget:
        return cls(
            run.get("max_evaluations"),
            run.get("max_rounds"),
            run.get("target_score"),
            run.get("max_seconds"),
            int(run.get("max_consecutive_failures") or 0),
            run.get("max_cost_usd"),
            run.get("max_llm_outage_s"),
        )


def view(node: dict[str, Any]) -> NodeView:
    return NodeView(
        id=node["id"],
        name=node["name"] or "",
        program=node["program"] or "",
        score=node["score"],
        success=bool(node["success"]),
        status=node["status"],
        motivation=node["motivation"] or "",
        analysis=node["analysis"] or "",
        feedback=node["feedback"] or "",
        error_class=node["error_class"],
        metrics=node["metrics"],
    )


@contextlib.contextmanager
def _environ(name: str, value: str | None) -> Iterator[None]:
    """``os.environ[name] = value`` while the run lasts (None: left alone), restored after;
    evaluation workers started meanwhile inherit it."""
    before = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def sandbox_choice(mode: str) -> contextlib.AbstractContextManager[None]:
    """The run's ``sandbox`` choice as ``HARNESS_SANDBOX`` while the run lasts (``auto``
    leaves the variable as the user set it)."""
    return _environ("HARNESS_SANDBOX", None if mode == "auto" else mode)


def hidden_from_candidates(path: Path) -> contextlib.AbstractContextManager[None]:
    """Add ``path`` to the directories the sandbox hides from candidates while the run lasts
    (the run directory, with its database, may lie outside the working directory, which is
    hidden anyway)."""
    before = os.environ.get("HARNESS_SANDBOX_HIDE")
    target = str(path.resolve())
    if target in (before or "").split(os.pathsep):
        return _environ("HARNESS_SANDBOX_HIDE", None)
    return _environ("HARNESS_SANDBOX_HIDE", os.pathsep.join(filter(None, [before, target])))


def _key_variables(config: Any) -> list[str]:
    """Every ``api_key_env`` named anywhere in a config: the variables holding its keys."""
    if isinstance(config, dict):
        found = [str(v) for k, v in config.items() if k == "api_key_env" and v]
        return found + [name for v in config.values() for name in _key_variables(v)]
    if isinstance(config, list):
        return [name for v in config for name in _key_variables(v)]
    return []


def plugin_versions() -> dict[str, str | None]:
    return {row["distribution"] or row["name"]: row["version"] for row in plugins.plugin_info()}


class Run:
    """One run directory's evolution, from a fresh start or a resume."""

    def __init__(
        self,
        cfg: DictConfig,
        run_dir: Path,
        overrides: list[str] | None = None,
        resume: bool = False,
    ):
        if "task" not in cfg or cfg.task is None:
            raise RunError("No task selected. Add +task=NAME." + plugins.did_you_mean(
                "", plugins.task_names()))
        problems = range_problems(cfg)
        if problems:
            raise RunError("; ".join(problems))
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.overrides = overrides or []
        self.resume = resume
        self.task_config: dict[str, Any] = OmegaConf.to_container(cfg.task, resolve=True)
        self.run_config: dict[str, Any] = OmegaConf.to_container(cfg.run, resolve=True)
        self.seed = int(cfg.get("seed", 0))
        self.budget = Budget.from_config(self.run_config)
        self.workers = int(self.run_config.get("workers", 1))
        self.context_nodes = int(self.run_config.get("context_nodes", 3))
        buffer = self.run_config.get("buffer")
        # Rounds proposed ahead of a free evaluation slot. One worker and no buffer make
        # a run reproducible (every round sees all earlier ones), so that is the default.
        auto = 0 if self.workers == 1 else max(1, self.workers // 4)
        self.buffer = auto if buffer is None else int(buffer)
        self.analyzer_mode = OmegaConf.to_container(cfg.analyzer, enum_to_str=True)["mode"]
        self.spec = task_spec(self.task_config)
        self.seed_name = str(self.task_config.get("seed_program") or (self.spec.seeds or ("",))[0])
        if self.seed_name not in self.spec.seeds:
            raise RunError(
                f"Unknown seed program {self.seed_name!r} for task {self.spec.name!r}."
                + plugins.did_you_mean(self.seed_name, list(self.spec.seeds))
            )
        self.limits = task_limits(self.task_config, self.spec)
        self.sandbox = str(cfg.get("sandbox") or "auto")
        if self.sandbox not in MODES:
            raise RunError(
                f"sandbox={self.sandbox} is not a sandbox mode ({', '.join(MODES)})."
                + plugins.did_you_mean(self.sandbox, list(MODES))
            )
        llm_config = OmegaConf.to_container(cfg.llm, resolve=True, enum_to_str=True)
        self.llm_name = str(llm_config["name"])
        sampler_config = OmegaConf.to_container(cfg.sampler, resolve=True, enum_to_str=True)
        try:
            self.proposer: Proposer = plugins.get_proposer_factory(llm_config["name"])(llm_config)
            self.sampler: Sampler = plugins.get_sampler_factory(sampler_config["name"])(
                sampler_config, self.seed, task=self.spec
            )
            self.cognition_config = OmegaConf.to_container(cfg.cognition, resolve=True)
            declare_secrets(_key_variables([llm_config, self.cognition_config]))
            self.cognition: CognitionBase | None = make_cognition(self.cognition_config)
        except (plugins.UnknownNameError, ValueError) as exc:
            raise RunError(str(exc)) from exc
        self.executor_config = OmegaConf.to_container(cfg.executor, resolve=True)
        self.db: sqlite_utils.Database
        self.features = FeatureSpace(self.spec)
        self._saved_state: str | None = None
        self.failed = 0
        self.duplicates = 0
        self.cost = 0.0
        self.outage_since: float | None = None
        self.llm_pause_s = float(self.run_config.get("llm_pause_s") or 0.0)
        self.dedupe = bool(self.run_config.get("dedupe", True))
        self.repair_attempts = int(self.run_config.get("repair_attempts") or 0)
        self.repair_errors = set(self.run_config.get("repair_errors") or ())
        self.best: tuple[float, int] | None = None
        self.seed_score: float | None = None
        self.evaluations = 0
        self.rounds = 0
        self.failures_in_row = 0
        self.progress = Progress()
        self.stop_reason: str | None = None
        self.status: str | None = None
        #: The signal that stopped the run (SIGINT, SIGTERM), if one did.
        self.signal: int | None = None

    # ----------------------------------------------------------------- set-up
    def _start_run_row(self) -> int:
        config_yaml = OmegaConf.to_yaml(self.cfg, resolve=True)
        row = next(iter(self.db["runs"].rows_where(order_by="id", limit=1)), None)
        fields = {
            "config": config_yaml,
            "overrides": json.dumps(self.overrides),
            "plugin_versions": json.dumps(plugin_versions()),
            "seed": self.seed,
            "status": "running",
            "stop_reason": None,
            "finished_at": None,
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        if row is None:
            return self.db["runs"].insert(
                {"task": self.spec.name, "started_at": store.now(), "sessions": 1, **fields}
            ).last_pk
        self.db["runs"].update(row["id"], {**fields, "sessions": (row["sessions"] or 0) + 1})
        return row["id"]

    def _load_state(self) -> None:
        row = self.db.execute("select task from runs order by id limit 1").fetchone()
        if row is not None and row[0] != self.spec.name:
            raise RunError(f"{self.run_dir} holds a {row[0]!r} run, not {self.spec.name!r}")
        seed = self.db.execute("select program from nodes where id = 0").fetchone()
        if seed is not None and seed[0] is not None:
            programs = self.db.execute(
                "select program from nodes where id > 0 and success = 1"
                " order by evaluated_at, id limit ?",
                [REFERENCE_SIZE],
            ).fetchall()
            self.features.rebuild(seed[0], (row[0] for row in programs))
        for node_id, score, success, parent_ids, island, features in self.db.execute(
            "select id, score, success, parent_ids, island, features from nodes"
            " where status in (?, ?) order by id",
            store.COMPLETED,
        ).fetchall():
            parents = json.loads(parent_ids or "[]")
            raw = json.loads(features) if features else {}
            self._admit(self._candidate(node_id, score, success, parents, island, raw))
        for parent_ids, island in self.db.execute(
            "select parent_ids, island from nodes where id > 0 order by id"
        ).fetchall():
            self.sampler.replay(Selection(json.loads(parent_ids or "[]"), island))
        for node_id, score, success, status, parent_ids in self.db.execute(
            "select id, score, success, status, parent_ids from nodes"
            " where id > 0 and status in (?, ?, ?) order by id",
            [*store.COMPLETED, "duplicate"],
        ).fetchall():
            self._learn(node_id, score, success, status, json.loads(parent_ids or "[]"))
        self.evaluations = store.evaluations(self.db)
        self.duplicates = self.db.execute(
            "select count(*) from nodes where status = 'duplicate'"
        ).fetchone()[0]
        self.cost = self.db.execute(
            "select coalesce(sum(cost_usd), 0) from llm_calls"
        ).fetchone()[0]
        self.rounds = self.db.execute("select count(*) from nodes where id > 0").fetchone()[0]
        row = self.db.execute("select score from nodes where id = 0").fetchone()
        self.seed_score = row[0] if row else None
        state = store.load_sampler_state(self.db, self.sampler.name)
        if state is not None:
            try:
                self.sampler.load_state(state)
            except ValueError as exc:
                raise RunError(f"sampler {self.sampler.name}: {exc}") from exc
        if self.cognition is not None:
            seeds = list(self.spec.cognition)
            try:
                for path in self.cognition_config.get("files") or []:
                    seeds += read_items(Path(path).expanduser())
                self.cognition.load(self.db, seeds)
            except (OSError, ValueError, EmbeddingError) as exc:
                raise RunError(f"cognition: {exc}") from exc

    def _candidate(
        self,
        node_id: int,
        score: float | None,
        success: Any,
        parents: list[int],
        island: int | None,
        raw_features: dict[str, float],
    ) -> Candidate:
        """What the sampler sees of a completed node (descriptors scaled to [0, 1])."""
        return Candidate(
            node_id,
            score,
            bool(success),
            parent=parents[0] if parents else None,
            island=island,
            features=self.features.scaled(raw_features),
        )

    def _admit(self, cand: Candidate, duplicate: bool = False) -> None:
        """Count a completed node and show it to the sampler (a duplicate never competes)."""
        if duplicate:
            self.duplicates += 1
            cand = Candidate(cand.id, None, False, cand.parent, cand.island)
        else:
            self.failed += not cand.success
        self.sampler.observe(cand)
        if cand.score is not None and (self.best is None or cand.score > self.best[0]):
            self.best = (cand.score, cand.id)

    def _learn(
        self, node_id: int, score: float | None, success: Any, status: str, parents: list[int]
    ) -> None:
        """Tell a back-end that learns (an ensemble's bandit) what the round's researcher
        model achieved: an improvement over the parent or not, at what cost."""
        if not node_id or not isinstance(self.proposer, Learner):
            return
        calls = self.db.execute(
            "select model, cost_usd, tokens_in + tokens_out from llm_calls"
            " where node_id = ? and role = 'researcher' order by id",
            [node_id],
        ).fetchall()
        if not calls:
            return
        parent = None
        if parents:
            row = self.db.execute("select score from nodes where id = ?", [parents[0]]).fetchone()
            parent = row[0] if row else None
        improved = (
            bool(success)
            and status != "duplicate"
            and score is not None
            and (parent is None or score > parent)
        )
        costs = [call[1] for call in calls if call[1] is not None]
        self.proposer.observe(
            Outcome(
                node_id,
                model=calls[-1][0],
                improved=improved,
                cost_usd=sum(costs) if costs else None,
                tokens=sum(call[2] or 0 for call in calls),
            )
        )

    # ----------------------------------------------------------------- stages
    def _record_calls(self, node_id: int, calls: list[LLMCall]) -> None:
        if calls:
            self.db["llm_calls"].insert_all(
                {"node_id": node_id, "created_at": store.now(), **call.__dict__} for call in calls
            )
            self.cost += sum(call.cost_usd or 0.0 for call in calls)

    def _select(self) -> Selection:
        """The sampler's context, parent first; the seed when nothing is selectable yet."""
        selection = self.sampler.select(self.context_nodes)
        self._save_sampler_state()
        if not selection.ids:
            return Selection([0], selection.island)
        return selection

    def _save_sampler_state(self) -> None:
        """Write the sampler's (small) state when it changed since the last write."""
        state = json.dumps(self.sampler.state())
        if state != self._saved_state:
            store.save_sampler_state(self.db, self.sampler.name, state)
            self._saved_state = state

    def _retrieve(self, context: list[NodeView]) -> list[int]:
        """Ids of the cognition items for this round's context (stored with the node)."""
        if self.cognition is None:
            return []
        try:
            hits = self.cognition.search(
                build_queries(context),
                k=int(self.cognition_config.get("k", 4)),
                threshold=float(self.cognition_config.get("threshold", 0.0)),
            )
        except EmbeddingError as exc:  # the round goes on without knowledge, and says so
            log.warning("cognition search failed, this round gets no knowledge: %s", exc)
            return []
        return [hit.id for hit in hits]

    async def _evaluate(self, node_id: int, program: str, attempt: int = 0) -> EvalResult:
        """Evaluate in a free slot and commit; ``attempt`` counts repairs before this one."""
        async with self.slots:
            result = await self.executor.evaluate(self.task_config, program, self.limits)
        if attempt:
            result.metrics["repair_attempts"] = attempt
        store.update_node(
            self.db,
            node_id,
            {
                "status": "evaluated" if result.success else "failed",
                "success": int(result.success),
                "score": result.score,
                "metrics": json.dumps(result.metrics, default=str),
                "feedback": clip(result.feedback),
                "error_class": result.error_class,
                "stages": json.dumps(result.stages) if result.stages else None,
                "evaluations": attempt + 1,
                "evaluated_at": store.now(),
                "eval_seconds": result.metrics.get("eval_seconds"),
            },
        )
        self._write_artifacts(node_id, result)
        self.evaluations += 1
        broken = result.error_class in EVALUATOR_FAILURES
        self.failures_in_row = self.failures_in_row + 1 if broken else 0
        return result

    def _write_artifacts(self, node_id: int, result: EvalResult) -> None:
        if not result.artifacts:
            return
        folder = self.run_dir / "artifacts" / str(node_id)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for name, text in result.artifacts.items():
                (folder / Path(name).name).write_text(str(text))
        except OSError as exc:
            log.warning("node %d: could not write artifacts: %s", node_id, exc)

    async def _analyze(self, node_id: int, reference: NodeView | None) -> None:
        node = view(store.get_node(self.db, node_id))
        if self.analyzer_mode == "none":
            text = raw_evaluation(node)
        elif self.analyzer_mode == "deterministic":
            text = deterministic_analysis(node, reference)
        else:
            try:
                analysis = await self.proposer.analyze(AnalysisRequest(self.spec, node, reference))
            except Exception as exc:  # noqa: BLE001 - an analyzer bug costs an analysis only
                analysis = Analysis(f"analysis unavailable: {type(exc).__name__}: {exc}")
            self._record_calls(node_id, analysis.llm_calls)
            self._write_back(node_id, analysis.lessons)
            text = analysis.text
        store.update_node(self.db, node_id, {"analysis": text})

    def _complete(self, node_id: int) -> None:
        node = store.get_node(self.db, node_id)
        duplicate = node["status"] == "duplicate"
        if node_id == 0:
            self.seed_score = node["score"]
            self.features.start(node["program"] or "")
        raw: dict[str, float] = {}
        if node["success"] and not duplicate:
            raw = self.features.raw(node["program"] or "", node["metrics"])
            store.update_node(self.db, node_id, {"features": json.dumps(raw)})
            if node_id:
                self.features.add_reference(node["program"] or "")
        self._admit(
            self._candidate(
                node_id, node["score"], node["success"], node["parent_ids"], node["island"], raw
            ),
            duplicate,
        )
        self._learn(node_id, node["score"], node["success"], node["status"], node["parent_ids"])
        self._save_sampler_state()
        if self.best and self.best[1] == node_id:
            (self.run_dir / "best_program.py").write_text(node["program"] or "")
        self.progress.node_done(node, self._stats())

    def _stats(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "evaluated": self.evaluations,
            "failed": self.failed,
            "duplicates": self.duplicates,
            "cost_usd": self.cost,
            "best": self.best[0] if self.best else None,
            "seed": self.seed_score,
            "best_known": self.spec.best_known,
        }

    # ----------------------------------------------------------------- rounds
    async def _seed_round(self) -> None:
        row = self.db.execute("select status from nodes where id = 0").fetchone()
        if row is not None and row[0] in store.COMPLETED:
            return
        name = self.seed_name
        program = seed_program(self.task_config, name)
        self.db["nodes"].upsert(
            {
                "id": 0,
                "run_id": self.run_id,
                "parent_ids": "[]",
                "name": f"seed:{name}",
                "motivation": f"The task's {name!r} seed program.",
                "program": program,
                "program_hash": canonical_hash(program, self.spec.language),
                "edit": "seed",
                "status": "pending",
                "created_at": store.now(),
            },
            pk="id",
        )
        await self._evaluate(0, program)
        await self._analyze(0, None)
        self._complete(0)

    def _new_round_row(self) -> int:
        node_id = store.next_node_id(self.db)
        selection = self._select()
        context = [view(store.get_node(self.db, i)) for i in selection.ids]
        item_ids = self._retrieve(context)
        self.db["nodes"].insert(
            {
                "id": node_id,
                "run_id": self.run_id,
                "parent_ids": json.dumps(selection.ids),
                "island": selection.island,
                "cognition_ids": json.dumps(item_ids),
                "status": "pending",
                "created_at": store.now(),
            }
        )
        self.rounds += 1
        return node_id

    async def _round(self, node_id: int) -> None:
        """Run (or re-run, after a kill) the round that fills the pending node ``node_id``."""
        row = store.get_node(self.db, node_id)
        context = [view(store.get_node(self.db, i)) for i in row["parent_ids"]]
        if row["program"] is None:
            proposal = await self._propose(node_id, context, row["cognition_ids"])
            while proposal.endpoint_down and self.llm_pause_s > 0 and not self._outage_too_long():
                log.warning(
                    "node %d: the LLM endpoint is unavailable (%s); pausing %g s, then asking "
                    "again (run.llm_pause_s; the run stops after run.max_llm_outage_s=%s)",
                    node_id, proposal.error, self.llm_pause_s, self.budget.max_llm_outage_s,
                )
                await asyncio.sleep(self.llm_pause_s)
                proposal = await self._propose(node_id, context, row["cognition_ids"])
            if not proposal.endpoint_down:
                self.outage_since = None
            if proposal.program is None:
                self._fail_proposal(node_id, proposal)
                self._complete(node_id)
                return
        node = store.get_node(self.db, node_id)
        original = self._original_of(node_id, node["program_hash"]) if self.dedupe else None
        if original is not None:
            self._mark_duplicate(node_id, original)
            self._complete(node_id)
            return
        result = await self._evaluate(node_id, node["program"])
        attempt = 0
        while attempt < self.repair_attempts and self._repairable(result):
            attempt += 1
            program = await self._repair(node_id, attempt)
            if program is None:
                break
            result = await self._evaluate(node_id, program, attempt)
        reference = max(
            (n for n in context if n.score is not None), key=lambda n: n.score, default=None
        )
        await self._analyze(node_id, reference or (context[0] if context else None))
        self._complete(node_id)

    def _outage_too_long(self) -> bool:
        """Start (or continue) timing an endpoint outage; whether it passed its limit."""
        now = time.monotonic()
        if self.outage_since is None:
            self.outage_since = now
        limit = self.budget.max_llm_outage_s
        return limit is not None and now - self.outage_since >= limit

    def _original_of(self, node_id: int, program_hash: str | None) -> int | None:
        """The completed node with the same canonical program, if any (an index lookup)."""
        row = self.db.execute(
            "select id from nodes where program_hash = ? and id != ? and status in (?, ?)"
            " order by id limit 1",
            [program_hash, node_id, *store.COMPLETED],
        ).fetchone()
        return row[0] if row else None

    def _mark_duplicate(self, node_id: int, original: int) -> None:
        """Record the proposal as a duplicate carrying the original's result, unevaluated."""
        source = store.get_node(self.db, original)
        self.failures_in_row += 1
        store.update_node(
            self.db,
            node_id,
            {
                "status": "duplicate",
                "duplicate_of": original,
                "success": int(source["success"]),
                "score": source["score"],
                "metrics": json.dumps(source["metrics"], default=str),
                "feedback": source["feedback"],
                "error_class": source["error_class"],
                "analysis": f"Duplicate of node {original} (the same program up to comments "
                "and formatting); not evaluated again.",
            },
        )

    def _repairable(self, result: EvalResult) -> bool:
        return (
            not result.success
            and result.error_class in self.repair_errors
            and isinstance(self.proposer, Repairer)
        )

    async def _repair(self, node_id: int, attempt: int) -> str | None:
        """Ask the proposer's debug agent to fix the failed program; the fix replaces it."""
        node = view(store.get_node(self.db, node_id))
        request = RepairRequest(self.spec, node, attempt, seed=self.seed * 1_000_003 + node_id)
        try:
            proposal = await cast(Repairer, self.proposer).repair(request)
        except Exception as exc:  # noqa: BLE001 - a failed repair leaves the failure as it is
            log.warning("node %d: repair raised %s: %s", node_id, type(exc).__name__, exc)
            return None
        self._record_calls(node_id, proposal.llm_calls)
        if proposal.program is None or proposal.program == node.program:
            return None
        store.update_node(
            self.db,
            node_id,
            {
                "program": proposal.program,
                "program_hash": canonical_hash(proposal.program, self.spec.language),
            },
        )
        return proposal.program

    async def _propose(
        self, node_id: int, context: list[NodeView], cognition_ids: list[int]
    ) -> Proposal:
        items = []
        if self.cognition is not None:
            by_id = dict(zip(self.cognition.ids, self.cognition.items, strict=True))
            items = [by_id[i] for i in cognition_ids if i in by_id]
        request = ProposalRequest(
            task=self.spec,
            parent=context[0],
            references=context[1:],
            cognition=items,
            node_id=node_id,
            seed=self.seed * 1_000_003 + node_id,
        )
        try:
            proposal = await self.proposer.propose(request)
        except Exception as exc:  # noqa: BLE001 - a proposer bug costs one round, not the run
            proposal = Proposal("", "", None, error=f"proposer raised {type(exc).__name__}: {exc}")
        self._record_calls(node_id, proposal.llm_calls)
        if proposal.program is not None:
            self._store_citations(node_id, proposal.citations, context, cognition_ids)
            store.update_node(
                self.db,
                node_id,
                {
                    "name": proposal.name,
                    "motivation": proposal.motivation,
                    "program": proposal.program,
                    "program_hash": canonical_hash(proposal.program, self.spec.language),
                    "edit": proposal.edit,
                },
            )
        return proposal

    def _store_citations(
        self,
        node_id: int,
        citations: list[tuple[str, int]],
        context: list[NodeView],
        cognition_ids: list[int],
    ) -> None:
        """Keep what the researcher says inspired the node, if it was shown that: an id it
        was not shown is a hallucination, not provenance."""
        shown = {"cognition": set(cognition_ids), "node": {node.id for node in context}}
        rows = [
            {"node_id": node_id, "kind": kind, "ref_id": ref}
            for kind, ref in citations
            if ref in shown.get(kind, ())
        ]
        if rows:
            self.db["inspirations"].insert_all(rows, replace=True)

    def _write_back(self, node_id: int, lessons: list[str]) -> None:
        """Store the analyzer's lessons as cognition items, with their provenance, for
        later rounds to retrieve (``cognition.write_back``); near-duplicates are skipped."""
        if self.cognition is None or not lessons or not self.cognition_config.get(
            "write_back", True
        ):
            return
        node = self.db.execute("select score from nodes where id = ?", [node_id]).fetchone()
        items = [
            CognitionItem(
                lesson,
                source=f"lesson from node {node_id} of run {self.run_dir.name}",
                metadata={
                    "kind": "lesson",
                    "run": str(self.run_dir),
                    "node": node_id,
                    "score": node[0] if node else None,
                },
            )
            for lesson in lessons
        ]
        threshold = self.cognition_config.get("dedupe_threshold")
        try:
            self.cognition.add(
                self.db, items, dedupe_threshold=None if threshold is None else float(threshold)
            )
        except Exception as exc:  # noqa: BLE001 - a lost lesson must not cost the run
            log.warning("node %d: lessons not written back: %s: %s", node_id,
                        type(exc).__name__, exc)

    def _fail_proposal(self, node_id: int, proposal: Proposal) -> None:
        self.failures_in_row += 1
        store.update_node(
            self.db,
            node_id,
            {
                "name": proposal.name or f"node-{node_id}",
                "motivation": proposal.motivation,
                "status": "failed",
                "success": 0,
                "error_class": "proposal",
                "feedback": proposal.error or "no program was proposed",
                "analysis": "",
                "edit": proposal.edit,
                "metrics": "{}",
            },
        )

    # ----------------------------------------------------------------- budget
    def _should_stop(self, in_flight: int) -> str | None:
        b = self.budget
        if b.target_score is not None and self.best and self.best[0] >= b.target_score:
            return f"target score {b.target_score} reached"
        if b.max_evaluations is not None and self.evaluations + in_flight >= b.max_evaluations:
            return f"max_evaluations={b.max_evaluations} reached"
        if b.max_rounds is not None and self.rounds >= b.max_rounds:
            return f"max_rounds={b.max_rounds} reached"
        if b.max_seconds is not None and time.monotonic() - self.started >= b.max_seconds:
            return f"max_seconds={b.max_seconds} reached"
        if (
            b.max_llm_outage_s is not None
            and self.outage_since is not None
            and time.monotonic() - self.outage_since >= b.max_llm_outage_s
        ):
            return (
                f"the LLM endpoint was unavailable for over {b.max_llm_outage_s:g} s "
                "(run.max_llm_outage_s); resume when it is back"
            )
        if b.max_cost_usd is not None and self.cost >= b.max_cost_usd:
            return f"max_cost_usd={b.max_cost_usd} reached (${self.cost:.4f} spent on LLM calls)"
        if b.max_consecutive_failures and self.failures_in_row >= b.max_consecutive_failures:
            return f"{self.failures_in_row} rounds in a row failed (see the nodes' feedback)"
        return None

    # ----------------------------------------------------------------- run
    def _claim_run_dir(self) -> contextlib.ExitStack:
        """Lock the run directory for this process and check it suits a run or a resume."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        stack = contextlib.ExitStack()
        handle = stack.enter_context(open(self.run_dir / ".lock", "w"))  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            stack.close()
            raise RunError(f"another harness process is using {self.run_dir}") from None
        exists = (self.run_dir / store.DB_NAME).exists()
        if exists and not self.resume:
            stack.close()
            raise RunError(
                f"{self.run_dir} already holds a run; continue it with "
                f"`harness resume {self.run_dir}` or choose another hydra.run.dir"
            )
        if self.resume and not exists:
            stack.close()
            raise RunError(f"{self.run_dir} holds no {store.DB_NAME} to resume")
        return stack

    def _check_sandbox(self) -> None:
        """Log how candidates are isolated; refuse to run LLM-written programs unisolated
        unless the user chose that (``sandbox=none`` or ``HARNESS_SANDBOX=none``)."""
        try:
            isolated = isolation()
        except (ValueError, RuntimeError) as exc:
            raise RunError(f"sandbox: {exc}") from exc
        if isolated is not None:
            log.info(
                "candidates run isolated (%s): read-only filesystem, no network, no other "
                "process visible",
                isolated,
            )
            return
        refusal = unisolated_refusal(self.llm_name)
        if refusal:
            raise RunError(refusal)

    async def execute(self) -> dict[str, Any]:
        make_undumpable()  # candidates running as this user cannot read its keys from /proc
        with self._claim_run_dir(), sandbox_choice(self.sandbox):
            self._check_sandbox()
            try:
                self.db = store.open_db(self.run_dir)
                with hidden_from_candidates(self.run_dir):
                    return await self._execute()
            except store.StoreError as exc:
                raise RunError(str(exc)) from exc
            except (OSError, sqlite3.Error) as exc:
                if store.is_disk_full(exc):
                    raise RunError(
                        f"the disk holding {self.run_dir} is full ({exc}); the run stopped and "
                        "its store keeps every completed node: free some space, then "
                        f"`harness resume {self.run_dir}`"
                    ) from exc
                if store.is_damaged(exc):
                    raise RunError(str(store.damaged(self.run_dir / store.DB_NAME, exc))) from exc
                raise

    @property
    def exit_status(self) -> tuple[int, str | None]:
        """The process's exit code after :meth:`execute` returned, and the line to print:
        0 when the run finished, 1 when it failed (its seed), 128 + the signal's number when
        a signal stopped it (a shell's convention: 143 for SIGTERM, 130 for SIGINT)."""
        if self.status == "interrupted" and self.signal is not None:
            return 128 + self.signal, (
                f"Stopped: {self.stop_reason}; continue with `harness resume {self.run_dir}`"
            )
        if self.status == "failed":
            return 1, f"Error: {self.stop_reason}"
        return 0, None

    def _save_resume_config(self) -> None:
        """Keep a resume's merged overrides and config for the next resume, only now that
        this process holds the run directory and the run accepted them: a refused resume
        must leave them as they were. Written beside and renamed, so never half-written."""
        hydra_dir = self.run_dir / ".hydra"
        hydra_dir.mkdir(exist_ok=True)
        for name, content in (
            ("overrides.yaml", OmegaConf.create(list(self.overrides))),
            ("config.yaml", self.cfg),
        ):
            partial = hydra_dir / f".{name}.partial"
            OmegaConf.save(content, partial)
            os.replace(partial, hydra_dir / name)

    def _seed_failure(self) -> str | None:
        """Why the run cannot go on from its seed, if it cannot: evolving from a program that
        does not work, or from an evaluator that does not, would only fail every round."""
        seed = store.get_node(self.db, 0)
        if seed["success"] or seed["error_class"] == "cascade":  # it works, below a filter
            return None
        if seed["error_class"] in EVALUATOR_FAILURES:
            return "the task's evaluator failed on the seed program (see node 0's feedback)"
        lines = [line.strip() for line in (seed["feedback"] or "").splitlines() if line.strip()]
        detail = f": {lines[-1][:300]}" if lines else ""
        return (
            f"the seed program {self.seed_name!r} failed its evaluation "
            f"({seed['error_class'] or 'failed'}{detail}); fix the seed or choose another with "
            "task.seed_program, then start a new run (node 0 holds the full feedback)"
        )

    def _on_signal(self, sig: int, stop: asyncio.Event) -> None:
        self.signal = sig
        stop.set()

    async def _execute(self) -> dict[str, Any]:
        self.started = time.monotonic()
        self._load_state()  # first: a resume it refuses must leave the run's row as it was
        try:
            self.executor = make_executor(self.executor_config, self.workers)
        except (ExecutorError, ValueError) as exc:
            raise RunError(str(exc)) from exc
        try:
            if self.resume:
                self._save_resume_config()
            self.run_id = self._start_run_row()
        except BaseException:
            self.executor.shutdown(kill=True)
            raise
        self.slots = asyncio.Semaphore(self.workers)
        self.progress.start(self.spec.name, self.run_dir, self._stats())
        status = "finished"
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal, sig, stop)
        try:
            await self._seed_round()
            failure = self._seed_failure()
            if failure:
                status, self.stop_reason = "failed", failure
            else:
                await self._drive(stop)
            if stop.is_set():
                name = signal.Signals(self.signal).name if self.signal else "a signal"
                status, self.stop_reason = "interrupted", f"interrupted by {name}"
        except BaseException as exc:
            status = "crashed"
            if store.is_disk_full(exc):
                # Logging to a file on the full disk would print a traceback per line.
                logging.raiseExceptions = False
            raise
        finally:
            self.status = status
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
            self.executor.shutdown(kill=status != "finished")
            await self.proposer.aclose()
            try:
                self.db["runs"].update(
                    self.run_id,
                    {"status": status, "stop_reason": self.stop_reason, "finished_at": store.now()},
                )
            except sqlite3.Error as exc:
                if status != "crashed":  # else the first error is the one to report
                    raise
                log.debug("run row not updated: %s", exc)
            self.progress.finish(status, self.stop_reason, self._stats())
        return store.summary(self.db)

    async def _drive(self, stop: asyncio.Event) -> None:
        in_flight: set[asyncio.Task[None]] = set()
        pending = [
            row[0]
            for row in self.db.execute(
                "select id from nodes where status = 'pending' and id > 0 order by id"
            ).fetchall()
        ]
        for node_id in pending:
            in_flight.add(asyncio.create_task(self._round(node_id)))
        unanalysed = self.db.execute(
            "select id, parent_ids from nodes where evaluated_at is not null and analysis is null"
        ).fetchall()
        for node_id, parent_ids in unanalysed:
            parents = [view(store.get_node(self.db, i)) for i in json.loads(parent_ids or "[]")]
            scored = [p for p in parents if p.score is not None]
            await self._analyze(node_id, max(scored, key=lambda p: p.score, default=None))
        stopper = asyncio.create_task(stop.wait())
        try:
            while True:
                while not stop.is_set() and len(in_flight) < self.workers + self.buffer:
                    self.stop_reason = self._should_stop(len(in_flight))
                    if self.stop_reason:
                        break
                    in_flight.add(asyncio.create_task(self._round(self._new_round_row())))
                if not in_flight:
                    break
                done, _ = await asyncio.wait(
                    in_flight | {stopper}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done - {stopper}:
                    in_flight.discard(task)
                    task.result()
                if stop.is_set():
                    break
        finally:
            # On a stop, and on a round's error (a full disk): the other rounds end here, so
            # none is left running or with an exception that nobody retrieves.
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            stopper.cancel()
