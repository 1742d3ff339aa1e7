"""The data_curation task: its corpus, the curation contract, the label diagnostics, the
lm-eval path against a hand-written scorer, hostile candidates, and a tiny run end to end."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from harness.config import compose_config
from harness.sandbox import Limits
from harness.tasks import task_limits, task_spec
from omegaconf import OmegaConf

from harness_data_curation import corpus, proxy
from harness_data_curation.curation import (
    DAMAGE_KINDS,
    JUNK_KINDS,
    CurationError,
    diagnostics,
    read_curated,
)
from harness_data_curation.plugin import TASK, _docs, _labels

#: A corpus of 300 clean documents (junk scaled alike) and a model small enough for seconds.
TINY_OVERRIDES = [
    "task.corpus.clean_docs=300", "task.corpus.heldout=60", "task.corpus.order_items=40",
    "task.corpus.cloze_items=40", "task.corpus.vocab_size=512", "task.sample.docs=120",
    "task.sample.probe_docs=12", "task.model.layers=1", "task.model.hidden=32",
    "task.model.heads=2", "task.model.mlp=64", "task.train.steps=6", "task.train.batch_size=4",
    "task.train.seq_len=64", "task.seeds=[0]",
]  # fmt: skip
NAIVE = TASK.seed_source("naive")


def config(cache: Path, *overrides: str) -> dict[str, Any]:
    composed = compose_config(
        ["+task=data_curation", *TINY_OVERRIDES, f"task.cache_dir={cache}", *overrides]
    )
    return OmegaConf.to_container(composed.task, resolve=True)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dc-cache")


@pytest.fixture(scope="module")
def root(cache: Path) -> Path:
    """The tiny corpus, built once through the task (as an evaluation builds it)."""
    return TASK.corpus(config(cache))


def evaluate(cfg: dict[str, Any], program: str, stage: str) -> Any:
    limits = task_limits(cfg, task_spec(cfg))
    workdir = Path(tempfile.mkdtemp(prefix=f"work-{stage}-", dir=Path(cfg["cache_dir"]).parent))
    return TASK.evaluate(cfg, program, workdir, limits, stage)


def rows(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


# ----------------------------------------------------------------- the corpus


def test_the_corpus_is_deterministic_and_keeps_its_labels_apart(root: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    again.mkdir()
    corpus.build_synthetic(again, dict(config(tmp_path)["corpus"]))
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.json*") if p.is_file()
                   and p.name != "stats.json")  # fmt: skip
    assert {"raw.jsonl", "labels.jsonl", "clean.jsonl", "heldout.jsonl", "tokenizer.json"} <= set(
        names
    )
    for name in names:
        assert (root / name).read_bytes() == (again / name).read_bytes(), name
    raw, labels = rows(root / "raw.jsonl"), rows(root / "labels.jsonl")
    assert all(set(doc) == {"id", "text", "category"} for doc in raw)
    assert [doc["id"] for doc in raw] == list(range(len(raw)))
    assert sorted(label["id"] for label in labels) == list(range(len(raw)))
    kinds = {label["kind"] for label in labels}
    assert {"clean", *JUNK_KINDS} == kinds
    by_id = {label["id"]: label for label in labels}
    clean = rows(root / "clean.jsonl")
    assert all(by_id[doc["id"]]["kind"] == "clean" for doc in clean)
    assert len(clean) == sum(label["kind"] == "clean" for label in labels) == 300
    texts = {doc["text"] for doc in raw}
    assert not texts & {doc["text"] for doc in rows(root / "heldout.jsonl")}
    # every injected damage string is in its raw document, so "left" can be tested by substring
    text = {doc["id"]: doc["text"] for doc in raw}
    for label in labels:
        for kind, injected in label["damage"].items():
            assert kind in DAMAGE_KINDS and injected
            assert all(len(s) >= 4 and s in text[label["id"]] for s in injected), label


def test_label_diagnostics_of_the_raw_corpus_and_of_the_oracle(root: Path) -> None:
    labels = _labels(root)
    raw = {doc["id"]: doc["text"] for doc in _docs(root)}
    everything = diagnostics(raw, labels)
    assert everything["clean_recall"] == everything["junk_kept"] == 1.0
    assert everything["redundant_kept"] == 1.0  # every duplicate is a second copy
    assert all(everything[f"{d}_left"] == 1.0 for d in DAMAGE_KINDS)
    assert everything["clean_coverage"] == 1.0 and 0.3 < everything["junk_share"] < 0.8
    oracle = {doc["id"]: doc["text"] for doc in rows(root / "clean.jsonl")}
    clean = diagnostics(oracle, labels)
    assert clean["clean_recall"] == 1.0
    assert clean["junk_kept"] == clean["redundant_kept"] == 0.0
    assert all(clean[f"{d}_left"] == 0.0 for d in DAMAGE_KINDS)
    assert clean["quality"] == 1.0 and everything["quality"] < 0.7


def test_label_diagnostics_count_by_hand() -> None:
    labels = {
        1: {"kind": "clean", "clean_id": 1, "damage": {"pii": ["a@b.example"]}, "clean_chars": 16},
        2: {"kind": "clean", "clean_id": 2, "damage": {}, "clean_chars": 6},
        3: {"kind": "spam", "clean_id": None, "damage": {}},
        4: {"kind": "exact_dup", "clean_id": 2, "damage": {}},
        5: {"kind": "near_dup", "clean_id": 1, "damage": {}},
        6: {"kind": "fragment", "clean_id": 2, "damage": {}},
    }
    # article 1 kept twice (5 is redundant), article 2 only through its duplicate 4
    kept = {1: "text a@b.example", 3: "buy", 4: "two", 5: "one"}
    found = diagnostics(kept, labels)
    assert found["clean_recall"] == 1.0 and found["redundant_kept"] == 0.5
    assert found["junk_kept"] == 0.5 and found["kept_spam"] == 1.0
    assert found["kept_fragment"] == 0.0 and found["pii_left"] == 1.0
    # 25 characters kept: "buy" is junk, "one" a shorter second copy of article 1; article
    # 2 survives as 3 of its 6 clean characters
    assert found["junk_share"] == 6 / 25 and found["clean_coverage"] == 0.75
    assert found["quality"] == pytest.approx(0.75 - 6 / 25, abs=1e-4)
    alone = diagnostics({1: "text [redacted]", 6: "frag"}, labels)
    assert alone["pii_left"] == 0.0 and alone["clean_recall"] == 0.5
    assert alone["redundant_kept"] == 0.0 and alone["kept_fragment"] == 1.0


# ----------------------------------------------------------------- the contract


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": 9, "text": "x"}\n', "not in the input"),
        ('{"id": 1, "text": "x"}\n{"id": 1, "text": "y"}\n', "twice"),
        ("not json\n", "not JSON"),
        ('{"id": "1", "text": "x"}\n', "int id"),
        ('{"id": 1, "text": "' + "x" * 400 + '"}\n', "more than"),
        ("", "kept no documents"),
        ('{"id": 1, "text": "  "}\n', "kept no documents"),
    ],
)
def test_an_output_that_breaks_the_contract_is_refused(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "curated.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CurationError, match=message):
        read_curated(path, {1: "one two", 2: "three"}, 1.5)


def test_a_text_holding_a_line_separator_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "curated.jsonl"
    doc = {"id": 1, "text": "one\u2028two"}
    path.write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")
    assert read_curated(path, {1: "one\u2028two"}, 1.5) == {1: "one\u2028two"}


HOSTILE = {
    "labels": "def curate(docs):\n    open(LABELS).read()\n    return docs\n",
    "nothing": "def curate(docs):\n    return []\n",
    "foreign ids": "def curate(docs):\n    return [{'id': -5, 'text': 'x'}]\n",
    "hang": "def curate(docs):\n    while True:\n        pass\n",
    "no function": "def clean(docs):\n    return docs\n",
}


@pytest.mark.isolation
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_candidate_is_contained_and_fails_with_a_reason(
    cache: Path, root: Path, name: str
) -> None:
    program = HOSTILE[name].replace("LABELS", repr(str(root / "labels.jsonl")))
    cfg = config(cache, "task.timeout_s=6")
    result = evaluate(cfg, program, "sample")
    assert not result.success
    expected = {
        "labels": ("No such file", None),
        "nothing": ("kept no documents", "invalid"),
        "foreign ids": ("not in the input", "invalid"),
        "hang": (None, "timeout"),
        "no function": ("curate(docs)", "contract"),
    }[name]
    if expected[0]:
        assert expected[0] in result.feedback, result.feedback
    if expected[1]:
        assert result.error_class == expected[1], (result.error_class, result.feedback)


def test_the_sample_stage_reports_speed_diagnostics_and_descriptors(
    cache: Path, root: Path
) -> None:
    naive = evaluate(config(cache), NAIVE, "sample")
    assert naive.success, naive.feedback
    m = naive.metrics
    assert m["docs_in"] == 120 and 0 < m["docs_kept"] <= 120
    assert 0 <= m["clean_recall"] <= 1 and "junk_kept" in m and m["docs_per_s"] > 0
    assert m["strategies"] == 1  # naive treats every category alike
    heuristic = evaluate(config(cache), TASK.seed_source("heuristic"), "sample")
    assert heuristic.success, heuristic.feedback
    assert heuristic.metrics["junk_kept"] < m["junk_kept"]
    assert heuristic.metrics["html_left"] < m["html_left"]
    # three behaviours: math dropped, tech rewritten, every other category kept as it is
    split = evaluate(config(cache), CATEGORY_AWARE, "sample")
    assert split.success, split.feedback
    assert split.metrics["strategies"] == 3
    spec = TASK.spec(config(cache))
    for result in (naive, heuristic, split):
        for descriptor in spec.descriptors:
            assert descriptor.low <= result.metrics[descriptor.name] <= descriptor.high


CATEGORY_AWARE = """
def curate(docs):
    kept = []
    for doc in docs:
        if doc["category"] == "math":
            continue
        text = doc["text"].upper() if doc["category"] == "tech" else doc["text"]
        kept.append({"id": doc["id"], "text": text})
    return kept
"""


# ----------------------------------------------------------------- the proxy's parts


def test_the_token_stream_repeats_one_fixed_order(root: Path) -> None:
    import random

    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
    eos = tokenizer.token_to_id(proxy.EOS)
    texts = ["alpha beta", "gamma", "delta epsilon zeta", "eta"]
    for order_seed in (0, 1):
        order = list(range(len(texts)))
        random.Random(order_seed).shuffle(order)
        one_pass = [t for i in order for t in [*tokenizer.encode(texts[i]).ids, eos]]
        expected = (one_pass * (10_000 // len(one_pass) + 1))[:10_000]
        assert proxy.token_stream(texts, tokenizer, order_seed, 10_000) == expected
    with pytest.raises(ValueError, match="no tokens"):
        proxy.token_stream(["", ""], tokenizer, 0, 100)


def hand_scored(model: Any, tokenizer: Any, items: list[dict[str, Any]]) -> float:
    """Accuracy by summed log-probability of each choice's tokens after the context: what
    lm-eval's multiple_choice ``acc`` means, written out independently."""
    import torch

    eos = tokenizer.token_to_id(proxy.EOS)
    correct = 0
    with torch.no_grad():
        for item in items:
            context = tokenizer.encode(item["context"]).ids if item["context"] else [eos]
            scores = []
            for choice in item["choices"]:
                whole = tokenizer.encode(item["context"] + choice).ids
                continuation = (
                    whole[len(context) :] if item["context"] else tokenizer.encode(choice).ids
                )
                ids = torch.tensor([[*context, *continuation]])
                logits = model(input_ids=ids[:, :-1]).logits.log_softmax(-1)[0]
                picked = logits[len(context) - 1 :].gather(1, ids[0, len(context) :, None])
                scores.append(picked.sum().item())
            correct += int(max(range(len(scores)), key=scores.__getitem__) == item["label"])
    return correct / len(items)


def test_lm_eval_one_task_per_call_agrees_with_a_hand_scorer(
    root: Path, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tokenizers import Tokenizer

    cfg = config(cache)
    settings = TASK.settings(cfg)
    tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
    model = proxy.build_model(
        settings, tokenizer.get_vocab_size(), tokenizer.token_to_id(proxy.EOS), 0
    )
    proxy.train(model, proxy.token_stream([d["text"] for d in rows(root / "clean.jsonl")],
                                          tokenizer, 0, 6 * 4 * 64), settings)  # fmt: skip
    (tmp_path / "tasks").mkdir()
    for name in settings["benchmarks"]["local"]:
        (tmp_path / "tasks" / f"{name}.jsonl").write_bytes(
            (root / "tasks" / f"{name}.jsonl").read_bytes()
        )
    monkeypatch.chdir(tmp_path)
    found = proxy.benchmarks(model, tokenizer, settings)
    assert set(found) == {"dc_order", "dc_cloze"}
    for name, accuracy in found.items():
        items = rows(root / "tasks" / f"{name}.jsonl")
        assert accuracy["acc"] == pytest.approx(hand_scored(model, tokenizer, items), abs=1e-12)


# ----------------------------------------------------------------- end to end


@pytest.mark.slow
def test_a_tiny_evaluation_prints_score_bpb_accuracies_and_diagnostics(tmp_path: Path) -> None:
    harness = Path(sys.executable).with_name("harness")
    seed = Path(proxy.__file__).parent / "seeds" / "naive.py"
    proc = subprocess.run(
        [str(harness), "eval", "+task=data_curation", "--program", str(seed), *TINY_OVERRIDES,
         f"task.cache_dir={tmp_path / 'cache'}"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for word in ("score", "bpb", "raw_bpb", "dc_order_acc", "dc_cloze_acc", "clean_recall",
                 "junk_kept", "pii_left", "samples"):  # fmt: skip
        assert f"\n{word}" in proc.stdout, (word, proc.stdout)
    assert proc.stdout.splitlines()[0].split() == ["success", "True"], proc.stdout


@pytest.mark.slow
def test_an_offline_run_with_ucb1_completes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    harness = Path(sys.executable).with_name("harness")
    env = {**os.environ, "HOME": str(tmp_path)}
    proc = subprocess.run(
        [str(harness), "run", "+task=data_curation", "sampler=ucb1", "run.max_evaluations=3",
         *TINY_OVERRIDES, f"hydra.run.dir={run_dir}"],
        capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    with sqlite3.connect(run_dir / "harness.db") as db:
        scored = db.execute("select score, metrics from nodes where score is not null").fetchall()
    assert len(scored) >= 1
    seed_score, metrics = scored[0][0], json.loads(scored[0][1])
    # The naive seed's score: the label-quality gain plus the bpb saved and the weighted
    # accuracy gained over raw, recomputed from the stored metrics.
    label_gain = metrics["quality"] - metrics["raw_quality"]
    assert metrics["label_gain"] == pytest.approx(label_gain, abs=1e-5)
    raw_acc, acc = metrics["raw_accuracy"], metrics["accuracy"]
    proxy_gain = metrics["raw_bpb"] - metrics["bpb"] + 0.25 * (acc - raw_acc)
    assert seed_score == pytest.approx(label_gain + proxy_gain, abs=1e-5)


@pytest.mark.isolation
def test_limits_from_the_config_hold_for_the_training_children(cache: Path) -> None:
    limits = TASK.limits(config(cache, "task.timeout_s=123"), Limits())
    assert limits.timeout_s == 123 and limits.memory_mb == 8192


def test_the_llm_judge_rates_pairs_over_real_http(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.testing.llm_server import FakeLLMServer, Fault

    from harness_data_curation.judge import judge

    raw = {1: "<p>Paris is the capital.</p>", 2: "buy cheap buy cheap", 3: "Rome."}
    kept = {1: "Paris is the capital.", 3: "Rome."}
    monkeypatch.setenv("JUDGE_KEY", "k")
    conf = {"model": "m", "api_key_env": "JUDGE_KEY", "pairs": 3, "timeout_s": 10}
    with FakeLLMServer(default='{"coverage": 8, "executability": 6}') as server:
        server.enqueue('Sure: {"coverage": 2, "executability": 4}', Fault(kind="malformed"))
        found = judge({**conf, "base_url": server.base_url}, raw, kept, seed=0)
        prompts = [r["messages"][0]["content"] for r in server.requests]
    assert found["judge_pairs"] == 2 and found["judge_errors"] == 1
    assert len(prompts) == 3  # a malformed reply is an error, not retried into a rating
    assert found["judge_coverage"] == 5.0 and found["judge_executability"] == 5.0
    assert sum("(dropped)" in p for p in prompts) == 1  # document 2 was dropped
    assert all("ORIGINAL" in p for p in prompts)


def test_a_users_own_corpus_is_read_through_datasets(tmp_path: Path, root: Path) -> None:
    clean = rows(root / "clean.jsonl")
    raw_file, heldout_file = tmp_path / "raw.jsonl", tmp_path / "heldout.jsonl"
    with raw_file.open("w", encoding="utf-8") as handle:
        for doc in clean[:150]:
            handle.write(json.dumps({"text": doc["text"], "category": doc["category"]}) + "\n")
    with heldout_file.open("w", encoding="utf-8") as handle:
        for doc in rows(root / "heldout.jsonl"):
            handle.write(json.dumps({"text": doc["text"]}) + "\n")
    cfg = config(
        tmp_path / "cache", f"task.data.raw={raw_file}", f"task.data.heldout={heldout_file}"
    )
    mine = TASK.corpus(cfg)
    assert not (mine / "labels.jsonl").exists() and (mine / "tokenizer.json").is_file()
    assert [doc["text"] for doc in rows(mine / "raw.jsonl")] == [d["text"] for d in clean[:150]]
    result = evaluate(cfg, NAIVE, "sample")
    assert result.success, result.feedback
    assert "clean_recall" not in result.metrics and "no hidden labels" in result.feedback
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "no category here"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="category"):
        TASK.corpus(config(tmp_path / "cache2", f"task.data.raw={bad}",
                           f"task.data.heldout={heldout_file}"))  # fmt: skip
    with pytest.raises(ValueError, match="heldout"):
        TASK.corpus(config(tmp_path / "cache3", f"task.data.raw={raw_file}"))
