"""The run store: one SQLite file per run directory (``harness.db``), via sqlite-utils.

The orchestrator is the only writer (it holds a lock on the run directory). Each write is
its own transaction, so a killed run loses at most the rounds in flight. The core's SQL
lives in this package (the cognition base's, in :mod:`harness.cognition.store`): the schema
(:mod:`.schema`), opening the file (:mod:`.connection`), nodes (:mod:`.nodes`) and their
programs (:mod:`.programs`), the run's other rows (:mod:`.runs`) and the figures reported
(:mod:`.report`). Importers use ``from harness import db``.
"""

from harness.db.connection import (
    DB_NAME,
    StoreError,
    damaged,
    is_damaged,
    is_disk_full,
    now,
    open_db,
)
from harness.db.nodes import (
    Completed,
    commit,
    commit_reevaluation,
    completed,
    confirming,
    decode_node,
    find_node,
    get_node,
    next_node_id,
    original_of,
    pending_rounds,
    programs_for_features,
    read_node,
    score_of,
    selections,
    unanalysed,
    with_programs,
)
from harness.db.programs import node_programs, program_of, tree_texts
from harness.db.report import (
    best_node,
    estimates,
    evaluations,
    inspired_by,
    models,
    summary,
)
from harness.db.runs import (
    Counts,
    ResearcherCall,
    SamplerRecord,
    add_inspirations,
    counts,
    finish_session,
    load_sampler_state,
    record_calls,
    recorded_section,
    researcher_calls,
    run_task,
    sampler_journal,
    start_session,
)
from harness.db.schema import datasette_metadata_path, migrate, migrations

__all__ = [
    "DB_NAME",
    "Completed",
    "Counts",
    "ResearcherCall",
    "SamplerRecord",
    "StoreError",
    "add_inspirations",
    "best_node",
    "commit",
    "commit_reevaluation",
    "completed",
    "confirming",
    "counts",
    "damaged",
    "datasette_metadata_path",
    "decode_node",
    "estimates",
    "evaluations",
    "find_node",
    "finish_session",
    "get_node",
    "inspired_by",
    "is_damaged",
    "is_disk_full",
    "load_sampler_state",
    "migrate",
    "migrations",
    "models",
    "next_node_id",
    "node_programs",
    "now",
    "open_db",
    "original_of",
    "pending_rounds",
    "program_of",
    "programs_for_features",
    "read_node",
    "record_calls",
    "researcher_calls",
    "recorded_section",
    "run_task",
    "sampler_journal",
    "score_of",
    "selections",
    "start_session",
    "summary",
    "tree_texts",
    "unanalysed",
    "with_programs",
]
