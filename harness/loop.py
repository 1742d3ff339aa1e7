"""The round and the run: sample -> retrieve -> propose -> evaluate -> score -> analyze -> store.

Several rounds are in flight at once: ``run.workers`` evaluating in worker processes (an
executor) and up to ``run.buffer`` more proposed ahead of a free slot; proposals and
analyses are awaited on the event loop. A round carries its node as a value
(:class:`harness.nodes.Node`) from stage to stage and commits it after each: inserted as
``pending`` when the round starts, with its proposal when that arrives, completed in place
when its evaluation commits, so after a kill ``resume`` re-runs exactly the rounds in
flight and keeps the numbering. A proposal equal to an earlier program (up to comments and
formatting) is stored as a duplicate instead of being evaluated, and one a novelty filter
finds too like an evaluated program (``novelty=...``) as rejected; a failure may be handed
to the LLM's debug agent for repair (``run.repair_attempts``). The orchestrator is the
database's only writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any, cast

import sqlite_utils
from omegaconf import DictConfig, OmegaConf

from harness import confirmation, knowledge, rundir
from harness import db as store
from harness.budget import Budget, Outage
from harness.confirmation import Confirmation
from harness.confirming import Confirmer
from harness.evaluation import first_stage
from harness.executors import Executor, ExecutorError, make_executor
from harness.filters import Filter, make_filter
from harness.lifetime import make_undumpable
from harness.llm.base import LLMCall, NodeView, Proposal
from harness.loggers import LoggerGuard
from harness.meta import MetaRecommendations
from harness.nodes import COMPLETED, Node
from harness.progress import Progress, report
from harness.researcher import Researcher
from harness.runstate import RunState
from harness.settings import RunSettings, build_parts
from harness.task import EvalResult
from harness.tasks import EVALUATOR_FAILURES, RunError, seed_failure, seed_program, task_spec

log = logging.getLogger("harness")


def _best(nodes: list[NodeView]) -> NodeView | None:
    """The best-scoring of ``nodes`` (the first of equals), if any has a score."""
    scored = [node for node in nodes if node.score is not None]
    return max(scored, key=lambda node: cast(float, node.score), default=None)


class Run:
    """One run directory's evolution, from a fresh start or a resume."""

    def __init__(
        self,
        cfg: DictConfig,
        run_dir: Path,
        overrides: list[str] | None = None,
        resume: bool = False,
    ):
        self.settings = RunSettings.from_config(cfg)
        self.run_dir = Path(run_dir)
        self.overrides = overrides or []
        self.resume = resume
        self.spec = task_spec(self.settings.task)
        self.seed_name = self.settings.seed_name(self.spec)
        self.limits = self.settings.limits(self.spec, self.run_dir)
        parts = build_parts(self.settings, self.spec)
        self.proposer, self.sampler, self.cognition = parts
        self.loggers = LoggerGuard(self.settings.logger, self.run_dir)
        self.novelty = self._novelty_filter(cfg)
        self.budget = Budget.from_config(self.settings.run)
        self.outage = Outage(self.settings.run.max_llm_outage_s)
        self.researcher = Researcher(
            self.proposer,
            self.spec,
            seed=self.settings.seed,
            analyzer=self.settings.analyzer,
            cognition=self.cognition,
            outage=self.outage,
            pause_s=self.settings.run.llm_pause_s,
            record=self._record_calls,
            trial=self._trial,
        )
        self.progress = Progress(self.spec.best_known, self.budget)
        policy = Confirmation.for_run(self.settings.run.confirm, self.spec)
        self.confirmer = Confirmer(self, policy) if policy is not None else None
        #: The seed's node, the one copy that confirmations add fresh seeds to.
        self.baseline: Node
        #: The rounds in flight (a confirmation counts them against the budget).
        self.in_flight: set[asyncio.Task[None]] = set()
        self.stop_reason: str | None = None
        self.status: str | None = None
        #: The signal that stopped the run (SIGINT, SIGTERM), if one did.
        self.signal: int | None = None
        # Set once the run directory is claimed (execute).
        self.db: sqlite_utils.Database
        self.state: RunState
        self.executor: Executor
        self.slots: asyncio.Semaphore
        self.run_id: int
        self.started: float
        #: The meta-recommendations (``run.meta``), None when off.
        self.meta: MetaRecommendations | None = None

    # ----------------------------------------------------------------- set-up
    def _novelty_filter(self, cfg: DictConfig) -> Filter | None:
        """The ``novelty`` group's filter (``None`` for ``novelty=none``)."""
        conf = OmegaConf.to_container(cfg.get("novelty") or {}, resolve=True)
        try:
            return make_filter(cast(dict[str, Any], conf), self.proposer, self.spec)
        except (LookupError, ValueError) as exc:
            raise RunError(str(exc)) from exc

    def _load_state(self) -> None:
        """Check the store holds this task's run, then rebuild what the run knows of it."""
        task = store.run_task(self.db)
        if task is not None and task != self.spec.name:
            raise RunError(f"{self.run_dir} holds a {task!r} run, not {self.spec.name!r}")
        self.state = RunState(self.db, self.spec, self.sampler, self.proposer)
        self.state.restore()
        if self.novelty is not None:
            self.novelty.rebuild(self.db)
        if self.cognition is not None:
            knowledge.load(self.cognition, self.db, self.spec, self.settings.cognition)
        if self.settings.run.meta.every > 0:
            conf = self.settings.run.meta
            self.meta = MetaRecommendations(self.db, self.spec, conf, self.researcher)

    # ----------------------------------------------------------------- stages
    def _context(self, ids: list[int]) -> list[NodeView]:
        return [self.state.views.get(i) for i in ids]

    def _record_calls(self, node_id: int, calls: list[LLMCall]) -> None:
        store.record_calls(self.db, node_id, calls)
        tally = self.state.tally
        tally.cost_usd += sum(call.cost_usd or 0.0 for call in calls)
        tally.tokens_in += sum(call.tokens_in for call in calls)
        tally.tokens_out += sum(call.tokens_out for call in calls)

    async def _propose(self, node: Node, context: list[NodeView]) -> Proposal:
        """Ask for the pending ``node``'s program; one is committed with the node at once,
        with what the researcher cites of what it was shown (anything else it cites is a
        hallucination, not provenance)."""
        if self.meta is not None:
            self.meta.note(node.id)
        proposal = await self.researcher.propose(node, context)
        if proposal.program is not None:
            shown = {"cognition": set(node.cognition_ids), "node": {n.id for n in context}}
            store.add_inspirations(
                self.db, node.id, [c for c in proposal.citations if c[1] in shown.get(c[0], ())]
            )
            node.proposed(proposal, self.spec.language)
            store.commit(self.db, node)
        return proposal

    async def _evaluate(self, node: Node, attempt: int = 0) -> EvalResult:
        """Evaluate in a free slot and commit; ``attempt`` counts repairs before this one."""
        async with self.slots:
            result = await self.executor.evaluate(
                self.settings.task, node.program or "", self.limits
            )
        node.evaluated(result, attempt, store.now())
        store.commit(self.db, node)
        rundir.write_artifacts(self.run_dir, node.id, result.artifacts)
        tally = self.state.tally
        tally.evaluations += 1
        broken = result.error_class in EVALUATOR_FAILURES
        tally.failures_in_row = tally.failures_in_row + 1 if broken else 0
        return result

    async def _trial(self, program: str) -> EvalResult:
        """A researcher's cheap evaluation of a draft (``llm.mode=agent``): the task's first
        cascade stage in a free slot; no node, not counted against ``run.max_evaluations``."""
        async with self.slots:
            return await self.executor.evaluate(
                first_stage(self.settings.task), program, self.limits
            )

    async def _repair(self, node: Node, result: EvalResult) -> None:
        """Hand a failure the debug agent may fix to it (``run.repair_attempts`` times at
        most); each fix replaces the program and is evaluated again."""
        run = self.settings.run
        attempt = 0
        while (
            attempt < run.repair_attempts
            and not result.success
            and result.error_class in run.repair_errors
            and self.researcher.repairs
        ):
            attempt += 1
            program = await self.researcher.repair(node, attempt)
            if program is None:
                return
            node.set_program(program, self.spec.language)
            store.commit(self.db, node)
            result = await self._evaluate(node, attempt)

    async def _analyze(self, node: Node, reference: NodeView | None) -> None:
        """Analyse the evaluated ``node``; the caller commits it (completing it, mostly)."""
        analysis = await self.researcher.analyze(node, reference)
        conf = self.settings.cognition
        if self.cognition is not None and analysis.lessons and conf.write_back:
            knowledge.write_back(
                self.cognition,
                self.db,
                analysis.lessons,
                node_id=node.id,
                score=node.score,
                run_dir=self.run_dir,
                dedupe_threshold=conf.dedupe_threshold,
            )
        node.analysis = analysis.text

    def _settle(self, node: Node) -> None:
        """Complete a round that ends without an evaluation: it proposed nothing (new)."""
        self.state.tally.failures_in_row += 1
        self._complete(node)

    def _complete(self, node: Node) -> None:
        """Commit the node completed (one transaction with its analysis and descriptors),
        then let the rest of the run know."""
        self.state.complete(node)
        if self.novelty is not None:
            self.novelty.admit(node)
        best = self.state.tally.best
        if best and best[1] == node.id:
            rundir.write_best(self.run_dir, node.program or "", self.spec.language)
        self.progress.node_done(node, self.state.tally)
        self.loggers.node_completed(node, self.state.tally)

    # ----------------------------------------------------------------- rounds
    async def _seed_round(self) -> Node:
        node = store.find_node(self.db, 0)
        if node is not None and node.status in COMPLETED:
            self.baseline = node
            return node
        node = Node(
            0,
            run_id=self.run_id,
            name=f"seed:{self.seed_name}",
            motivation=f"The task's {self.seed_name!r} seed program.",
            edit="seed",
            created_at=store.now(),
        )
        node.set_program(seed_program(self.settings.task, self.seed_name), self.spec.language)
        store.commit(self.db, node)
        self.baseline = node
        self.progress.seed(self.seed_name)
        await self._evaluate(node)
        await self._analyze(node, None)
        self._complete(node)
        return node

    def _new_round(self) -> tuple[Node, list[NodeView]]:
        """Start a round: its context and knowledge chosen now, its pending node committed."""
        node_id = self.state.new_id()
        selection = self.state.select(self.settings.run.context_nodes)
        context = self._context(selection.ids)
        node = Node(
            node_id,
            run_id=self.run_id,
            parent_ids=selection.ids,
            island=selection.island,
            cognition_ids=(
                knowledge.retrieve(self.cognition, context, self.settings.cognition)
                if self.cognition is not None
                else []
            ),
            created_at=store.now(),
        )
        store.commit(self.db, node, self.state.sampler_state())
        self.state.tally.rounds += 1
        return node, context

    async def _round(self, node: Node, context: list[NodeView]) -> None:
        """Run (or re-run, after a kill) the round that fills the pending ``node``."""
        if node.program is None:
            proposal = await self._propose(node, context)
            if proposal.program is None:
                node.proposal_failed(proposal)
                return self._settle(node)
        original = store.original_of(self.db, node) if self.settings.run.dedupe else None
        if original is not None:
            node.duplicates(store.read_node(self.db, original))
            return self._settle(node)
        if self.novelty is not None:
            verdict = await self.novelty.check(node)
            self._record_calls(node.id, verdict.llm_calls)
            if verdict.reject:
                node.rejected_for_novelty({"novelty": verdict.metrics}, verdict.reason)
                return self._settle(node)
        await self._repair(node, await self._evaluate(node))
        if self.confirmer is not None:
            await self.confirmer.confirm(node)
        await self._analyze(node, _best(context) or (context[0] if context else None))
        self._complete(node)

    async def _finish_confirmation(self, node: Node) -> None:
        """Finish a round a kill stopped during its confirmation (resume); resumed with
        ``run.confirm`` off, the node stays unconfirmed."""
        if self.confirmer is not None:
            await self.confirmer.confirm(node)
        else:
            node.confirmation = confirmation.abandoned(node.confirmation)
            store.commit(self.db, node)
        if node.analysis is None:
            await self._analyze(node, _best(self._context(node.parent_ids)))
        self._complete(node)

    # ----------------------------------------------------------------- run
    async def execute(self) -> dict[str, Any]:
        make_undumpable()  # candidates running as this user cannot read its keys from /proc
        with rundir.claimed(self.run_dir, self.resume):
            rundir.check_sandbox(self.settings.sandbox, str(self.settings.llm["name"]))
            try:
                self.db = store.open_db(self.run_dir)
                return await self._execute()
            except Exception as exc:
                error = rundir.storage_error(self.run_dir, exc)
                if error is None:
                    raise
                raise error from exc

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

    def _on_signal(self, sig: int, stop: asyncio.Event) -> None:
        self.signal = sig
        stop.set()

    async def _execute(self) -> dict[str, Any]:
        self.started = time.monotonic()
        self._load_state()  # first: a resume it refuses must leave the run's row as it was
        try:
            self.executor = make_executor(self.settings.executor, self.settings.run.workers)
        except (ExecutorError, ValueError) as exc:
            raise RunError(str(exc)) from exc
        try:
            if self.resume:
                rundir.save_resume_config(self.run_dir, self.settings.cfg, self.overrides)
            fields = rundir.session_fields(self.settings.cfg, self.overrides, self.settings.seed)
            self.run_id = store.start_session(self.db, self.spec.name, fields)
        except BaseException:
            self.executor.shutdown(kill=True)
            raise
        self.slots = asyncio.Semaphore(self.settings.run.workers)
        self.progress.start(self.spec.name, self.run_dir, self.state.tally)
        self.loggers.start(self.spec.name, self.settings, self.resume, self.overrides)
        status = "finished"
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal, sig, stop)
        try:
            failure = seed_failure(await self._seed_round(), self.seed_name)
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
                store.finish_session(self.db, self.run_id, status, self.stop_reason)
            except sqlite3.Error as exc:
                if status != "crashed":  # else the first error is the one to report
                    raise
                log.debug("run row not updated: %s", exc)
            level = self.settings.run.confirm.level
            self.progress.finish(status, self.stop_reason, self.state.tally, report(self.db, level))
            self.loggers.finish(status, self.stop_reason, self.db)
        return store.summary(self.db)

    async def _update_meta(self, stopper: asyncio.Task[Any]) -> None:
        """Write the meta-recommendations' next version when due, before new rounds start;
        a stop abandons it (a resume writes it)."""
        if self.meta is None or stopper.done():
            return
        update = asyncio.create_task(self.meta.update())
        await asyncio.wait({update, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not update.done():
            update.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await update

    async def _drive(self, stop: asyncio.Event) -> None:
        in_flight = self.in_flight
        for node in store.pending_rounds(self.db):
            in_flight.add(asyncio.create_task(self._round(node, self._context(node.parent_ids))))
        for node in store.confirming(self.db):
            in_flight.add(asyncio.create_task(self._finish_confirmation(node)))
        for node in store.unanalysed(self.db):
            await self._analyze(node, _best(self._context(node.parent_ids)))
            store.commit(self.db, node)
            self.state.views.put(node)
        stopper = asyncio.create_task(stop.wait())
        capacity = self.settings.run.workers + self.settings.buffer
        try:
            while True:
                await self._update_meta(stopper)
                while not stop.is_set() and len(in_flight) < capacity:
                    elapsed = time.monotonic() - self.started
                    self.stop_reason = self.budget.stop_reason(
                        self.state.tally, len(in_flight), elapsed, self.outage
                    )
                    if self.stop_reason:
                        break
                    in_flight.add(asyncio.create_task(self._round(*self._new_round())))
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
