"""``harness cognition`` list, search, add, import and export, through the real CLI, and
``cognition.files`` seeding a run from notes."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_loop

from harness import db as store
from harness.cognition.files import read_items

HASHING = "cognition.backend=hashing"
NOTES = """# Toy notes
## Constants
- Constants above ten are clipped by the evaluator,
  so aim just below ten.
- Integer constants are as good as floats here.

## Failures
An exception in f scores nothing; keep f total.
"""


def ok(result):
    assert result.returncode == 0, result.stderr
    return result


def test_list_and_search_a_tasks_seed_items(cli):
    listed = ok(cli("cognition", "list", "+task=toy", HASHING))
    assert "Larger constants give larger return values.  (toy)" in listed.stdout
    found = json.loads(
        ok(cli("cognition", "search", "+task=toy", HASHING, "larger constants", "--json")).stdout
    )
    assert found["backend"] == "hashing:512" and found["query"] == "larger constants"
    scores = [hit["score"] for hit in found["hits"]]
    assert found["hits"][0]["content"] == "Larger constants give larger return values."
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.3


def test_import_add_and_export_keep_sources_and_skip_duplicates(tmp_path: Path, cli):
    notes = tmp_path / "notes.md"
    notes.write_text(NOTES)
    run = tmp_path / "base"
    first = ok(cli("cognition", "import", "--run", str(run), str(notes), "+task=toy", HASHING))
    assert "imported 3 of 3 items" in first.stdout
    again = ok(cli("cognition", "import", "--run", str(run), str(notes), HASHING))
    assert "imported 0 of 3 items" in again.stdout

    added = ok(
        cli(
            "cognition",
            "add",
            "--run",
            str(run),
            "Zero",
            "is",
            "a",
            "poor",
            "answer.",
            HASHING,
            "--source",
            "me",
        )
    )
    assert added.stdout.startswith("added [K")
    assert (
        "already present"
        in ok(cli("cognition", "add", "--run", str(run), "zero is a POOR answer", HASHING)).stdout
    )

    listed = ok(cli("cognition", "list", "--run", str(run), HASHING)).stdout
    assert (
        "Constants above ten are clipped by the evaluator, so aim just below ten."
        "  (notes.md > Toy notes > Constants)" in listed
    )
    assert "An exception in f scores nothing; keep f total.  (notes.md > Toy notes > Failures)" in (
        listed
    )
    assert "Larger constants give larger return values.  (toy)" in listed
    assert "Zero is a poor answer.  (me)" in listed

    exported = tmp_path / "base.jsonl"
    ok(cli("cognition", "export", "--run", str(run), HASHING, "-o", str(exported)))
    records = [json.loads(line) for line in exported.read_text().splitlines()]
    assert len(records) == 6 and records[-1]["metadata"] == {"kind": "manual"}
    copy = tmp_path / "copy"
    ok(cli("cognition", "import", "--run", str(copy), str(exported), HASHING))
    assert [(i.content, i.source, i.metadata) for i in read_items(exported)] == [
        (r["content"], r["source"], r["metadata"]) for r in records
    ]
    assert ok(cli("cognition", "export", "--run", str(copy), HASHING)).stdout.count("\n") == 6


def test_bad_input_is_a_clear_error(tmp_path: Path, cli):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"content": "fine"}\n{not json}\n')
    result = cli("cognition", "import", "--run", str(tmp_path / "r"), str(broken), HASHING)
    assert result.returncode == 1 and "broken.jsonl:2: not JSON" in result.stderr
    typo = cli("cognition", "list", "+task=toy", "cognition.backend=hashng")
    assert typo.returncode != 0 and "Did you mean 'hashing'" in typo.stderr
    none = cli("cognition", "list", "+task=toy", "cognition=none")
    assert none.returncode != 0 and "cognition is disabled" in none.stderr
    empty = cli("cognition", "search", "+task=toy", HASHING)
    assert empty.returncode != 0 and "give a query" in empty.stderr
    for result in (typo, none, empty):
        assert "Traceback" not in result.stderr


def test_a_run_starts_from_notes_given_in_cognition_files(tmp_path: Path):
    notes = tmp_path / "notes.md"
    notes.write_text(NOTES)
    run_dir = tmp_path / "run"
    run_loop(run_dir, "+task=toy", "run.max_evaluations=3", f"cognition.files=[{notes}]")
    db = store.open_db(run_dir, migrate=False)
    sources = {row["source"] for row in db["cognition"].rows}
    assert {"toy", "notes.md > Toy notes > Constants", "notes.md > Toy notes > Failures"} <= sources


def test_a_missing_notes_file_stops_the_run_before_it_starts(tmp_path: Path, cli):
    result = cli(
        "run",
        "+task=toy",
        "cognition.files=[/nonexistent/notes.md]",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode != 0
    assert "cognition: [Errno 2] No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr
