"""Lessons written back to the cognition base, and the provenance of each idea, through a
real run against a loopback OpenAI-compatible server."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

from helpers import openai_run, toy_answer

from harness import db as store
from harness.llm.answers import parse_analyzer_answer
from harness.testing.llm_server import FakeLLMServer

LESSONS = (
    "Returning larger constants from f raises the score directly.",
    "Programs that raise exceptions score nothing; keep f total.",
)


class Researcher:
    """Answers researcher requests with distinct programs citing what the prompt showed
    (plus an id it was never shown), and analyzer requests with lessons."""

    def __init__(self) -> None:
        self.rounds = itertools.count()
        self.cited: dict[int, set[str]] = {}  # program value -> kinds honestly cited
        self.prompts: list[str] = []

    def __call__(self, request: dict) -> str:
        text = json.dumps(request["messages"])
        if "<lessons>" in text:
            lesson = LESSONS[len(self.prompts) % 2]
            return (
                f"<analysis>The constant changed. {lesson}</analysis>\n"
                f"<lessons>\n- {lesson}\n</lessons>\n<next>\n- Try a larger constant.\n</next>"
            )
        self.prompts.append(text)
        n = next(self.rounds)
        shown = request["messages"][-1]["content"]  # the system message has examples
        knowledge = re.findall(r"\[K(\d+)\]", shown)
        nodes = re.findall(r"\[N(\d+)\]", shown)
        cite, kinds = "", set()
        if n % 3 == 0 and knowledge:
            cite, kinds = f"[K{knowledge[0]}] [K999]", {"cognition"}
        elif n % 3 == 1 and nodes:
            cite, kinds = f"[N{nodes[0]}] [N999]", {"node"}
        value = 2 + n / 100
        self.cited[value] = kinds
        answer = toy_answer(f"def f():\n    return {value}\n")
        return answer.replace("</motivation>", f"</motivation><inspired_by>{cite}</inspired_by>")


def test_lessons_are_written_back_with_provenance_and_ideas_keep_theirs(tmp_path: Path, cli):
    researcher = Researcher()
    run_dir = tmp_path / "run"
    with FakeLLMServer(default=researcher) as server:
        openai_run(run_dir, server, "run.max_evaluations=9", "analyzer=auto")
    db = store.open_db(run_dir, migrate=False)

    lessons = [
        (row["content"], json.loads(row["metadata"]), row["source"])
        for row in db["cognition"].rows
        if json.loads(row["metadata"] or "{}").get("kind") == "lesson"
    ]
    assert sorted(content for content, _, _ in lessons) == sorted(LESSONS)  # de-duplicated
    node_ids = {row["id"] for row in db["nodes"].rows}
    for _, metadata, source in lessons:
        assert metadata["node"] in node_ids and metadata["run"] == str(run_dir)
        assert f"node {metadata['node']}" in source
    assert any(lesson in prompt for prompt in researcher.prompts[3:] for lesson in LESSONS), (
        "written-back lessons are retrieved for later rounds"
    )

    links = db.execute("select node_id, kind, ref_id from inspirations").fetchall()
    assert links and all(ref != 999 for _, _, ref in links), "unseen ids are dropped"
    expected = {"cognition": 0, "experience": 0, "neither": 0}
    for node_id, program in db.execute("select id, program from nodes where id > 0"):
        value = float(re.search(r"return ([\d.]+)", program).group(1))
        kinds = researcher.cited[value]
        linked = {kind for node, kind, _ in links if node == node_id}
        assert linked == kinds
        key = "cognition" if "cognition" in kinds else "experience" if kinds else "neither"
        expected[key] += 1
    summary = store.summary(db)
    assert summary["inspired_by"] == expected
    assert expected["cognition"] and expected["experience"] and expected["neither"]
    assert summary["lessons"] == 2

    status = cli("status", str(run_dir))
    total = sum(expected.values())
    share = 100 * expected["cognition"] / total
    assert f"cognition {share:.1f}% ({expected['cognition']})" in status.stdout


def test_write_back_can_be_switched_off_and_cognition_none_still_runs(tmp_path: Path):
    for name, overrides in (
        ("off", ["cognition.write_back=false"]),
        ("none", ["cognition=none"]),
    ):
        researcher = Researcher()
        with FakeLLMServer(default=researcher) as server:
            openai_run(tmp_path / name, server, "run.max_evaluations=4", *overrides)
        summary = store.summary(store.open_db(tmp_path / name, migrate=False))
        assert summary["evaluated"] == 4 and summary["lessons"] == 0
        if name == "none":
            assert summary["inspired_by"]["cognition"] == 0
            user = [json.loads(p)[-1]["content"] for p in researcher.prompts]
            assert not any(re.search(r"\[K\d+\]", prompt) for prompt in user)


def test_the_analyzer_answer_splits_into_analysis_lessons_and_directions():
    answer = parse_analyzer_answer(
        "<think>draft</think><analysis>Score rose.</analysis>\n<lessons>\n"
        "- Corner circles should be larger;\n  they have two walls.\n* Avoid SLSQP on n > 30.\n"
        "</lessons>\n<next>\n1. Try basin hopping.\n2) Keep the seed.\n</next>"
    )
    assert answer.analysis == "Score rose."
    assert answer.lessons == [
        "Corner circles should be larger; they have two walls.",
        "Avoid SLSQP on n > 30.",
    ]
    assert answer.directions == ["Try basin hopping.", "Keep the seed."]
    bare = parse_analyzer_answer("Just prose, no tags.")
    assert (bare.analysis, bare.lessons, bare.directions) == ("Just prose, no tags.", [], [])


def test_status_reads_a_run_stored_before_citations_existed(tmp_path: Path, cli):
    with FakeLLMServer(default=Researcher()) as server:
        openai_run(tmp_path, server, "run.max_evaluations=3")
    db = store.open_db(tmp_path, migrate=False)
    assert db["inspirations"].count > 0
    db["inspirations"].drop()
    db.execute("delete from _sqlite_migrations where name = 'm006_inspirations'")
    db.conn.commit()
    result = cli("status", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["inspired_by"] == {
        "cognition": 0, "experience": 0, "neither": db["nodes"].count - 1,
    }  # fmt: skip
