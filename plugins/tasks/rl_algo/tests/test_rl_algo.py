"""rl_algo: the candidate contract, failure handling, isolation, training runs and a run."""

from __future__ import annotations

import concurrent.futures
import importlib.util
import json
import math
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from harness.config import compose_config
from harness.driver_task import Context
from harness.evaluation import evaluate_program
from harness.tasks import task_limits, task_spec
from omegaconf import OmegaConf

from harness_rl_algo import driver, outputs, plugin, policy
from harness_rl_algo.lint import lint

TASK = plugin.TASK
ROOT = Path(plugin.__file__).parent
GPU_CONF = ROOT / "conf" / "task" / "rl_algo" / "scale" / "gpu.yaml"
GRPO = TASK.seed_source("grpo")
GRPO_ADVANTAGE = "    return ((grouped - mean) / (std + STD_EPS)).view(-1)\n"
GRPO_LOSS = "    return per_completion.mean()\n"

# A training budget small enough for unit tests; the shipped one is in the YAML.
TINY = {
    "warmup": {"steps": 150},
    "grpo": {"steps": 6, "prompts_per_step": 4, "group_size": 4},
    "eval": {"problems": 100},
}
TINY_OVERRIDES = [
    f"task.{group}.{key}={value}" for group, values in TINY.items() for key, value in values.items()
]


def variant(old: str, new: str, source: str = GRPO) -> str:
    """The GRPO seed with one line replaced (the line must be there)."""
    assert old in source
    return source.replace(old, new)


FLIPPED = variant(GRPO_ADVANTAGE, GRPO_ADVANTAGE.replace("return (", "return -("))
ZERO = variant(GRPO_ADVANTAGE, "    return torch.zeros_like(rewards)\n")


def config(cache: Path, tiny: bool = True, scale: str = "cpu", **overrides: Any) -> dict[str, Any]:
    chosen = ["+task=rl_algo", f"task/rl_algo/scale={scale}"]
    composed = compose_config(chosen + (TINY_OVERRIDES if tiny and scale == "cpu" else []))
    cfg = OmegaConf.to_container(composed.task, resolve=True)
    cfg["cache_dir"] = str(cache)
    cfg.update(overrides)
    return cfg


def namespace(source: str) -> dict[str, Any]:
    found: dict[str, Any] = {"__name__": "candidate"}
    exec(compile(source, "candidate.py", "exec"), found)
    return found


def evaluate(cfg: dict[str, Any], program: str) -> Any:
    return evaluate_program(cfg, program, task_limits(cfg, task_spec(cfg)))


def evaluate_two(cfg: dict[str, Any], programs: list[str]) -> list[Any]:
    """Two evaluations at once (one torch thread each, two cores), as run.workers=2 does."""
    limits = task_limits(cfg, task_spec(cfg))  # loads the plugins once, before the threads
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda program: evaluate_program(cfg, program, limits), programs))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One base policy and GRPO reference cache for the module's evaluations."""
    return tmp_path_factory.mktemp("cache")


@torch.no_grad()
def greedy_decode(model: Any, prompts: list[list[int]], eos: int, steps: int) -> list[Any]:
    """A greedy decoder of the test's own, not ``generate()``: prompts of one length at a
    time (no padding, no cache), each step a whole forward pass. Returns per prompt the new
    token ids up to EOS and whether some step's two best logits were within 1e-4 (a tie
    that rounding in another batch layout could break the other way)."""
    model.eval()
    found: list[Any] = [None] * len(prompts)
    for width in sorted({len(p) for p in prompts}):
        rows = [i for i, p in enumerate(prompts) if len(p) == width]
        ids = torch.tensor([prompts[i] for i in rows])
        new: list[list[int]] = [[] for _ in rows]
        done, close = [False] * len(rows), [False] * len(rows)
        for _ in range(steps):
            logits = model(input_ids=ids).logits[:, -1].float()
            best = logits.topk(2).values
            picked = logits.argmax(-1)
            for j, token in enumerate(picked.tolist()):
                if done[j]:
                    continue
                close[j] |= bool(best[j, 0] - best[j, 1] < 1e-4)
                done[j] = token == eos
                if not done[j]:
                    new[j].append(token)
            ids = torch.cat([ids, picked[:, None]], 1)
        for j, i in enumerate(rows):
            found[i] = (new[j], close[j])
    return found


def recount(settings: dict[str, Any], weights: str | Path) -> tuple[int, int, int]:
    """(hits, near ties, problems) of ``weights`` on the held-out problems, counted here: the
    sum worked out from each prompt's operands, this file's decoder, and the text after the
    completion's last "=" (all of it without one) compared as a string."""
    from safetensors.torch import load_file

    tokenizer = policy.build_tokenizer()
    model = policy.build_model(settings["policy"], tokenizer)
    model.load_state_dict(load_file(str(weights)))
    task, cfg = settings["task"], settings["eval"]
    prompts = [p for p, _ in policy.proxy_problems(task, cfg["problems"], cfg["seed"], True)]
    special = {tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id}
    ids = [tokenizer(p)["input_ids"] for p in prompts]
    decoded = greedy_decode(model, ids, tokenizer.eos_token_id, int(cfg["max_new_tokens"]))
    hits = ties = 0
    for prompt, (new, close) in zip(prompts, decoded, strict=True):
        text = "".join(tokenizer.convert_ids_to_tokens([t for t in new if t not in special]))
        total = sum(int(term) for term in prompt.rstrip("=").split("+"))
        hits += text.split("=")[-1].strip() == str(total)
        ties += close
    return hits, ties, len(prompts)


def assert_accuracy(accuracy: float, counted: tuple[int, int, int]) -> None:
    """The scorer's accuracy is the recount's, up to the near ties."""
    hits, ties, problems = counted
    assert abs(accuracy * problems - hits) <= ties + 1e-6, (accuracy, counted)


# ----------------------------------------------------------------- spec, seeds, contract


def test_task_spec_declares_stages_descriptors_and_cognition(tmp_path: Path) -> None:
    spec = task_spec(config(tmp_path))
    assert spec.name == "rl_algo" and spec.seeds == ("grpo", "dr_grpo", "dapo")
    assert [s.name for s in spec.stages] == ["contract", "proxy"]
    assert {d.name for d in spec.descriptors} == {
        "clip_fraction",
        "length_weighting",
        "advantage_scale",
    }
    assert 10 <= len(spec.cognition) <= 20
    assert all(item.source and len(item.content) > 100 for item in spec.cognition)
    assert "compute_advantages(rewards, group_size, mask" in spec.description


@pytest.mark.parametrize("name", plugin.SEEDS)
def test_seeds_pass_the_contract_and_the_lint(name: str) -> None:
    source = TASK.seed_source(name)
    start, end = source.index("# EVOLVE-BLOCK-START"), source.index("# EVOLVE-BLOCK-END")
    assert start < source.index("def compute_advantages") < source.index("def policy_loss") < end
    assert lint(source) is None
    probes = driver.evaluate("contract", {"threads": 1}, namespace(source))["probes"]
    assert probes["clip_fraction"] == 1.0  # all three clip the ratio
    assert probes["advantage_reward_corr"] > 0.5


def test_descriptors_tell_the_seeds_apart() -> None:
    probes = {name: driver.contract(namespace(TASK.seed_source(name))) for name in plugin.SEEDS}
    assert probes["grpo"]["length_weighting"] == pytest.approx(0.25)  # per-completion mean
    assert probes["dapo"]["length_weighting"] == pytest.approx(1.0)  # token-level
    assert probes["dr_grpo"]["length_weighting"] == pytest.approx(1.0)
    # Dr. GRPO does not divide by the group's std, so its advantages are smaller.
    assert probes["dr_grpo"]["advantage_scale"] < probes["grpo"]["advantage_scale"]
    unclipped = variant(
        "    clipped = torch.clamp(ratio, 1.0 - EPSILON, 1.0 + EPSILON)\n",
        "    clipped = ratio\n",
    )
    assert driver.contract(namespace(unclipped))["clip_fraction"] == 0.0
    assert driver.contract(namespace(FLIPPED))["advantage_reward_corr"] < -0.5
    # Per-token advantages reach the loss as [B, T], in the probes too.
    per_token = variant(
        GRPO_ADVANTAGE,
        "    flat = ((grouped - mean) / (std + STD_EPS)).view(-1)\n"
        "    return flat[:, None] * mask\n",
    ).replace("    if advantages.dim() == 1:\n        advantages = advantages.unsqueeze(1)\n",
              "    assert advantages.dim() == 2\n")  # fmt: skip
    assert driver.contract(namespace(per_token)) == pytest.approx(probes["grpo"])


BREACHES = {
    "missing": (
        GRPO.replace("def policy_loss(", "def other_loss("),
        "contract",
        "must define a function policy_loss",
    ),
    "shape": (
        variant(GRPO_ADVANTAGE, "    return rewards.view(-1, group_size)\n"),
        "contract",
        "returned shape (6, 4)",
    ),
    "integer": (
        variant(GRPO_ADVANTAGE, "    return (rewards > 0).long()\n"),
        "contract",
        "must return a float tensor",
    ),
    "nan_on_equal_rewards": (
        variant("(std + STD_EPS)", "std"),
        "nan",
        "returned NaN or inf",
    ),
    "not_scalar": (
        variant(GRPO_LOSS, "    return per_completion\n"),
        "contract",
        "must return a scalar tensor, got (24,)",
    ),
    "padding": (
        variant(GRPO_LOSS, "    return per_token.mean()\n"),
        "contract",
        "depends on padding positions",
    ),
    "detached": (
        variant(GRPO_LOSS, "    return torch.tensor(0.0)\n"),
        "contract",
        "does not depend on logps",
    ),
}


@pytest.mark.parametrize("case", BREACHES)
def test_contract_names_each_breach(case: str) -> None:
    source, error_class, message = BREACHES[case]
    failure = driver.evaluate("contract", {"threads": 1}, namespace(source))["failure"]
    assert failure["error_class"] == error_class
    assert message in failure["message"]


@pytest.mark.parametrize(
    "snippet",
    [
        "import os",
        "from torch import utils",
        "from . import x",
        "x = open('f')",
        "y = torch.load('w.pt')",
        "z = (1).__class__",
        "g = (i for i in ()).gi_frame.f_back",
        "h = getattr(torch, 'save')",
        "b = __builtins__",
    ],
)
def test_lint_rejects_what_reaches_beyond_tensors(snippet: str) -> None:
    problem = lint(GRPO + "\n" + snippet + "\n")
    assert problem is not None and "is not allowed" in problem


def test_lint_leaves_syntax_errors_to_the_sandbox() -> None:
    assert lint("def broken(:\n") is None


# ----------------------------------------------------------------- the sandboxed cascade


@pytest.mark.isolation
def test_sandboxed_contract_failures_stop_the_cascade(tmp_path: Path) -> None:
    cfg = config(tmp_path / "cache")
    nan = evaluate(cfg, BREACHES["nan_on_equal_rewards"][0])
    assert not nan.success and nan.score is None and nan.error_class == "nan"
    assert [s["stage"] for s in nan.stages] == ["contract"]
    assert "compute_advantages returned NaN or inf" in nan.feedback
    forbidden = evaluate(cfg, GRPO + "\nimport subprocess\n")
    assert forbidden.error_class == "forbidden" and "import subprocess" in forbidden.feedback
    crash = evaluate(cfg, variant(GRPO_ADVANTAGE, "    raise ValueError('no groups here')\n"))
    assert crash.error_class == "exception" and "ValueError: no groups here" in crash.feedback
    assert not (tmp_path / "cache").exists()  # nothing was trained for them


@pytest.mark.isolation
def test_a_hanging_candidate_times_out(tmp_path: Path) -> None:
    cfg = config(tmp_path, timeout_s=15)
    hang = variant(GRPO_ADVANTAGE, "    while True:\n        pass\n")
    result = evaluate(cfg, hang)
    assert result.error_class == "timeout" and "timed out after 15 s" in result.feedback


@pytest.mark.isolation
def test_the_training_child_never_gets_the_heldout_settings(tmp_path: Path) -> None:
    cfg = TASK.settings(config(tmp_path))
    assert "eval" in cfg and "eval" not in plugin.train_settings(cfg)
    gpu = config(tmp_path, scale="gpu", data_dir=str(tmp_path))
    assert not {"eval", "eval_sets"} & set(plugin.train_settings(TASK.settings(gpu)))


def test_untrusted_files_are_copied_only_when_plain(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"x" * 10)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    os.mkfifo(tmp_path / "fifo")
    assert outputs.copy_untrusted(tmp_path / "real", tmp_path / "a", 100) is None
    assert (tmp_path / "a").read_bytes() == b"x" * 10
    assert outputs.copy_untrusted(tmp_path / "link", tmp_path / "b", 100) is not None
    assert "not a regular file" in outputs.copy_untrusted(tmp_path / "fifo", tmp_path / "c", 100)
    assert "limit 5" in outputs.copy_untrusted(tmp_path / "real", tmp_path / "d", 5)
    assert outputs.copy_untrusted(tmp_path / "absent", tmp_path / "e", 100) is not None
    assert not any((tmp_path / name).exists() for name in "bcde")


# ----------------------------------------------------------------- the trusted policy side


@pytest.mark.parametrize("kind", ["chain", "addition"])
def test_heldout_problems_are_disjoint_from_training_and_deterministic(kind: str) -> None:
    task = {"kind": kind, "min_operand": 0, "max_operand": 49, "min_terms": 2, "max_terms": 4}
    train = policy.proxy_problems(task, 2000, 1, heldout=False)
    heldout = policy.proxy_problems(task, 500, 2, heldout=True)
    assert not {p for p, _ in train} & {p for p, _ in heldout}
    assert heldout == policy.proxy_problems(task, 500, 2, heldout=True)
    for prompt, target in heldout[:50]:
        answer = str(eval(prompt[:-1]))  # noqa: S307 - "a+b+..." only
        assert target.split("=")[-1] == answer
        assert policy.reward(task, target, target) == 1.0
    terms = {p.count("+") + 1 for p, _ in heldout}
    assert terms == ({2, 3, 4} if kind == "chain" else {2})
    share = sum(policy.is_heldout(p) for p, _ in train + heldout) / 2500
    assert 0.15 < share < 0.45  # 20% of the space; the held-out side is 500 of the 2500


def test_chain_targets_write_every_step() -> None:
    assert policy.chain_steps([7, 5]) == "12"
    assert policy.chain_steps([7, 5, 9]) == "12+9=21"
    assert policy.chain_steps([7, 5, 9, 3]) == "12+9+3=21+3=24"
    assert policy.chain_steps([40, 49, 0, 11]) == "89+0+11=89+11=100"
    lengths = {len(t) for _, t in policy.proxy_problems(
        {"kind": "chain", "min_operand": 0, "max_operand": 49, "min_terms": 2, "max_terms": 4},
        200, 0, heldout=False)}  # fmt: skip
    assert min(lengths) <= 3 and max(lengths) >= 14  # completions vary with the problem


def test_rewards_and_answer_parsing() -> None:
    addition = {"kind": "addition"}
    assert policy.reward(addition, "82", "82") == 1.0
    assert policy.reward(addition, "820", "82") == 0.0
    chain = {"kind": "chain"}
    target = "12+9+3=21+3=24"
    assert policy.reward(chain, "12+9+3=21+3=24", target) == 1.0
    assert policy.reward(chain, "24", target) == 1.0  # steps skipped: only the answer counts
    assert policy.reward(chain, "13+9+3=22+3=24", target) == 1.0  # wrong step, right answer
    assert policy.reward(chain, "12+9+3=21+3=25", target) == 0.0
    assert policy.reward(chain, "12+9+3=21+3=", target) == 0.0  # no answer
    assert policy.reward(chain, "12+9+3=21+3=240", target) == 0.0
    assert policy.reward(chain, "", "12") == 0.0
    assert policy.reward(chain, "12", "12") == 1.0
    assert policy.boxed_answer("so \\boxed{\\frac{1}{2}} and \\boxed{3}") == "3"
    assert policy.boxed_answer("\\boxed{\\frac{1}{2}}") == "\\frac{1}{2}"
    assert policy.boxed_answer("\\boxed{unclosed") is None
    assert policy.math_reward("thus $\\boxed{ \\dfrac{1}{2} }$.", "\\frac{1}{2}") == 1.0
    assert policy.math_reward("\\boxed{12.0}", "12") == 1.0
    assert policy.math_reward("\\boxed{13}", "12") == 0.0
    assert policy.math_reward("the answer is 12", "12") == 0.0  # no box, no reward


def test_weights_must_fit_the_trusted_architecture(tmp_path: Path) -> None:
    settings = TASK.settings(config(tmp_path))
    torch.manual_seed(0)
    tokenizer = policy.build_tokenizer()
    model = policy.build_model(settings["policy"], tokenizer)
    policy.save_weights(model, tmp_path / "good.safetensors")
    loaded, _ = policy.load_policy(settings, tmp_path / "good.safetensors")
    assert torch.equal(loaded.lm_head.weight, model.lm_head.weight)
    from safetensors.torch import save_file

    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["model.norm.weight"][0] = math.nan
    save_file(state, str(tmp_path / "nan.safetensors"))
    with pytest.raises(ValueError, match="NaN"):
        policy.load_policy(settings, tmp_path / "nan.safetensors")
    del state["model.norm.weight"]
    save_file(state, str(tmp_path / "short.safetensors"))
    with pytest.raises(ValueError, match="missing"):
        policy.load_policy(settings, tmp_path / "short.safetensors")


def test_tiny_training_run_is_deterministic(cache: Path, tmp_path: Path, monkeypatch) -> None:
    """The base policy, then GRPO twice with the same seed: the same weights, bit for bit;
    the trusted scorer loads them and the warm-up learnt something.

    The warm-up is the shipped one (trained into the module's cache, which the ranking test
    reuses) and groups have 8 completions: with a weaker policy every completion of a group
    could be wrong, all advantages zero and GRPO a no-op (max_grad_norm 0.0), so the
    bit-for-bit check would compare untrained models."""
    from safetensors.torch import load_file

    cfg = config(cache)
    cfg["warmup"]["steps"] = config(cache, tiny=False)["warmup"]["steps"]
    cfg["grpo"]["group_size"] = 8
    settings = TASK.settings(cfg)
    context = Context(cfg, settings, task_limits(cfg, task_spec(cfg)))
    base_file = TASK.base_policy(context, tmp_path / "base")
    monkeypatch.chdir(tmp_path)
    Path(driver.BASE_WEIGHTS).write_bytes(base_file.read_bytes())
    seed = namespace(GRPO)
    first = driver.train_once(seed, plugin.train_settings(settings), 0)
    weights = Path("policy-seed0.safetensors").read_bytes()
    second = driver.train_once(seed, plugin.train_settings(settings), 0)
    assert Path("policy-seed0.safetensors").read_bytes() == weights
    assert first["steps"] == second["steps"] == TINY["grpo"]["steps"]
    assert first["reward_first"] == second["reward_first"]
    assert 0 < first["max_grad_norm"] < 1000, "GRPO made no update: the check proves nothing"
    base_state = load_file(driver.BASE_WEIGHTS)
    trained_state = load_file("policy-seed0.safetensors")
    assert base_state.keys() == trained_state.keys()
    assert any(not torch.equal(base_state[k], trained_state[k]) for k in base_state)
    scored = policy.score_policies(settings, [driver.BASE_WEIGHTS, "policy-seed0.safetensors"])
    base, trained = (r["accuracy"] for r in scored["results"])
    assert 0.1 < base < 0.6  # the warm-up learnt, and left room for RL
    assert_accuracy(base, recount(settings, driver.BASE_WEIGHTS))
    assert_accuracy(trained, recount(settings, "policy-seed0.safetensors"))
    assert scored["problems"] == {"chain": TINY["eval"]["problems"]}


# ----------------------------------------------------------------- proxy evaluations


@pytest.mark.slow
def test_training_failures_become_failed_nodes(cache: Path) -> None:
    """Finite on the contract's probes (batches of 24 and 2 rows), broken in training (16
    rows a step): each failure names what broke."""
    cfg = config(cache)
    exploding = variant(GRPO_LOSS, "    return per_completion.mean() * 1e9\n")
    nan_late = variant(
        GRPO_LOSS,
        "    return per_completion.mean() * (1.0 if mask.shape[0] in (2, 24) else math.nan)\n",
    ).replace("import torch\n", "import math\n\nimport torch\n", 1)
    boom, nan = evaluate_two(cfg, [exploding, nan_late])
    assert boom.error_class == "exploding_gradients" and boom.score is None
    assert [s["stage"] for s in boom.stages] == ["contract", "proxy"]
    assert "exceeds 1e+06" in boom.feedback and boom.metrics["failed_seed"] == 0
    assert nan.error_class == "nan" and "policy_loss returned nan" in nan.feedback


def documented_score(accuracies: list[float], grpo: list[float]) -> float:
    """score = mean over seeds of (accuracy - GRPO's accuracy), as the task text says."""
    return sum(a - g for a, g in zip(accuracies, grpo, strict=True)) / len(accuracies)


@pytest.mark.slow
def test_evaluation_ranks_grpo_above_zero_and_flipped_advantages(cache: Path, tmp_path) -> None:
    """The shipped budget, one seed (2): GRPO improves on the base policy, zero advantages
    leave it exactly unchanged, sign-flipped advantages unlearn it; scores rank them so.

    The base policy and the GRPO reference are trained first, here, in work dirs the test
    keeps (the evaluations then find them cached): their weights are scored again by this
    file's own decoder, and every score is checked against the documented formula over
    GRPO's recounted accuracies."""
    cfg = config(cache, tiny=False, seeds=[2])
    settings = TASK.settings(cfg)
    limits = task_limits(cfg, task_spec(cfg))
    context = Context(cfg, settings, limits)
    base_file = TASK.base_policy(context, tmp_path / "base")
    work = tmp_path / "reference"
    TASK.reference(context, work, base_file)
    trained_once = {p: p.stat().st_mtime_ns for p in [base_file, *cache.glob("grpo-*.json")]}
    scored = [work / f"seed{seed}" / "score" for seed in settings["seeds"]]
    assert all(path.is_dir() for path in scored), "the reference came from an older cache"
    base_count = recount(settings, base_file)
    grpo_counts = [
        recount(settings, path / f"policy-seed{seed}.safetensors")
        for path, seed in zip(scored, settings["seeds"], strict=True)
    ]
    problems = base_count[2]
    grpo_accuracies = [hits / problems for hits, _, _ in grpo_counts]
    slack = (base_count[1] + sum(ties for _, ties, _ in grpo_counts)) / problems + 1e-6

    grpo = evaluate(cfg, GRPO)
    assert grpo.success and grpo.metrics["seeds"] == 1 and "cached" in grpo.feedback
    assert grpo.samples == {seed: 0.0 for seed in settings["seeds"]}
    assert_accuracy(grpo.metrics["base_accuracy"], base_count)
    for accuracy, counted in zip(grpo.metrics["accuracy_per_seed"], grpo_counts, strict=True):
        assert_accuracy(accuracy, counted)
    assert grpo.score == pytest.approx(
        documented_score(grpo.metrics["accuracy_per_seed"], grpo_accuracies), abs=slack
    )
    gain = sum(grpo_accuracies) / len(grpo_accuracies) - base_count[0] / problems
    assert gain > 0.03, (base_count, grpo_counts)
    zero, flipped = evaluate_two(cfg, [ZERO, FLIPPED])
    assert zero.success and flipped.success, (zero.feedback, flipped.feedback)
    for accuracy in zero.metrics["accuracy_per_seed"]:  # the base policy, unchanged
        assert_accuracy(accuracy, base_count)
    for result in (zero, flipped):
        expected = documented_score(result.metrics["accuracy_per_seed"], grpo_accuracies)
        assert result.score == pytest.approx(expected, abs=slack)
    assert zero.score == pytest.approx(-gain, abs=slack)
    assert flipped.score < zero.score < 0.0
    assert flipped.metrics["advantage_reward_corr"] < 0 < grpo.metrics["advantage_reward_corr"]
    # Neither the base policy nor the reference was trained again (nor another one added).
    now = {p: p.stat().st_mtime_ns for p in [base_file, *cache.glob("grpo-*.json")]}
    assert now == trained_once


@pytest.mark.slow
def test_samples_follow_the_seeds_passed_in(cache: Path) -> None:
    """The noise contract: one sample per seed the core passes, fresh ones included, each
    that seed's accuracy minus GRPO's; GRPO's reference is trained for a new seed alone
    (the other seed's is cached) and the score is the mean of the samples."""
    dr_grpo = TASK.seed_source("dr_grpo")
    first = evaluate(config(cache, seeds=[0]), dr_grpo)
    assert first.success, first.feedback
    assert set(first.samples) == {0}
    references = set(cache.glob("grpo-*.json"))
    fresh = evaluate(config(cache, seeds=[1000, 0]), dr_grpo)
    assert fresh.success, fresh.feedback
    assert list(fresh.samples) == [1000, 0]
    assert len(set(cache.glob("grpo-*.json")) - references) == 1  # seed 1000's only
    assert fresh.samples[0] == first.samples[0]  # the same seed trains the same weights
    accuracies, grpo = (fresh.metrics[k] for k in ("accuracy_per_seed", "grpo_accuracy_per_seed"))
    for seed, mine, reference in zip([1000, 0], accuracies, grpo, strict=True):
        assert fresh.samples[seed] == pytest.approx(mine - reference, abs=1e-6)
    assert fresh.score == pytest.approx(sum(fresh.samples.values()) / 2, abs=1e-12)
    assert fresh.metrics["score"] == pytest.approx(fresh.score, abs=1e-6)
    itself = evaluate(config(cache, seeds=[1000]), GRPO)
    assert itself.samples == {1000: 0.0} and "cached" in itself.feedback


@pytest.mark.slow
def test_offline_run_completes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    harness = Path(sys.executable).with_name("harness")
    env = {**os.environ, "HOME": str(tmp_path)}  # the cache goes under tmp_path
    proc = subprocess.run(
        [str(harness), "run", "+task=rl_algo", "sampler=ucb1", "run.max_evaluations=4",
         *TINY_OVERRIDES, f"hydra.run.dir={run_dir}"],
        capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    status = subprocess.run(
        [str(harness), "status", str(run_dir), "--json"], capture_output=True, text=True
    )
    summary = json.loads(status.stdout)
    assert summary["evaluated"] == 4
    # Every stored score is the documented formula over the node's stored per-seed
    # accuracies, all against one GRPO reference (the seed's own), and every node's base
    # accuracy is the cached base policy's, recounted by this file's decoder.
    with sqlite3.connect(run_dir / "harness.db") as db:
        rows = db.execute("select id, score, metrics from nodes where score is not null")
        nodes = {node: (score, json.loads(metrics)) for node, score, metrics in rows}
    (base_file,) = (tmp_path / ".cache" / "harness-rl-algo").glob("base-*.safetensors")
    base_count = recount(TASK.settings(config(tmp_path)), base_file)
    seed_accuracies = nodes[0][1]["accuracy_per_seed"]
    for node, (score, metrics) in nodes.items():
        assert metrics["grpo_accuracy_per_seed"] == seed_accuracies, node
        expected = documented_score(metrics["accuracy_per_seed"], seed_accuracies)
        assert score == pytest.approx(expected, abs=1e-6), node
        assert_accuracy(metrics["base_accuracy"], base_count)
    assert summary["seed_score"] == nodes[0][0]


# ----------------------------------------------------------------- the GPU path, on CPU


def boxed_model(tokenizer: Any) -> Any:
    """A one-layer Llama that answers any prompt ending in "=" with "\\boxed{0}" and EOS.

    Its attention and MLP write nothing (zero output projections), so the next token
    depends on the last token only: one-hot embeddings, and an output matrix that maps
    each character of "=\\boxed{0}" to the next one (margin sqrt(32) after the norms)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None, tie_word_embeddings=False,
    )  # fmt: skip
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    ids = [*tokenizer.convert_tokens_to_ids(list("=\\boxed{0}")), tokenizer.eos_token_id]
    with torch.no_grad():
        model.model.embed_tokens.weight.copy_(torch.eye(len(tokenizer), 32))
        model.lm_head.weight.zero_()
        model.lm_head.weight[ids[1:], ids[:-1]] = 1.0
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
    return model


def recount_boxed(
    model: Any, tokenizer: Any, items: list[tuple[str, str]], steps: int
) -> tuple[int, int, int]:
    """(hits, near ties, problems): this file's decoder, the last \\boxed{...} by a regex."""
    decoded = greedy_decode(
        model, [tokenizer(q)["input_ids"] for q, _ in items], tokenizer.eos_token_id, steps
    )
    hits = ties = 0
    for (_, answer), (new, close) in zip(items, decoded, strict=True):
        boxed = re.findall(r"\\boxed\{([^{}]*)\}", tokenizer.decode(new, skip_special_tokens=True))
        hits += bool(boxed) and boxed[-1] == answer
        ties += close
    return hits, ties, len(items)


@pytest.mark.slow
def test_math_path_runs_end_to_end_on_cpu(tmp_path: Path, monkeypatch) -> None:
    """The gpu scale's code (local model folder, JSONL data, boxed-answer reward, per-set
    scoring) with a tiny model on CPU: everything but CUDA and the real model.

    The model is built to answer "\\boxed{0}" to every question, so of the 5 scored
    questions (answers 0, 2, 4, 6, 8) exactly one is right: a base accuracy of 1/5 known
    in advance."""
    import datasets

    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))  # the sandboxed children
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf")  # this process
    data = tmp_path / "data"
    monkeypatch.setattr(policy, "CHARS", policy.CHARS + "\\boxed{}")
    tokenizer = policy.build_tokenizer()
    model = boxed_model(tokenizer)
    model.save_pretrained(data / "model")
    tokenizer.save_pretrained(data / "model")
    rows = [{"question": f"{a}+{a}=", "answer": str(2 * a)} for a in range(12)]
    for path in (data / "train.jsonl", data / "eval" / "toy.jsonl"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = config(tmp_path, scale="gpu", seeds=[0])
    gpu = cfg
    gpu.update(data_dir=str(data), device="cpu", eval_sets={"toy": {}})
    gpu["task"]["template"] = "{question}"
    gpu["grpo"].update(steps=2, prompts_per_step=2, group_size=2, max_completion_length=8)
    gpu["eval"].update(max_new_tokens=10, batch_size=4, max_problems=5)
    settings = TASK.settings(cfg)
    assert settings["policy"]["path"] == str((data / "model").resolve())
    monkeypatch.chdir(tmp_path)
    run = driver.train_once(namespace(GRPO), plugin.train_settings(settings), 0)
    assert run["steps"] == 2
    scored = policy.score_policies(settings, [None, "policy-seed0.safetensors"])
    assert scored["problems"] == {"toy": 5}
    base, trained = (r["accuracy"] for r in scored["results"])
    items = [(r["question"], r["answer"]) for r in rows[:5]]
    assert recount_boxed(model, tokenizer, items, 10) == (1, 0, 5)
    assert base == pytest.approx(1 / 5)
    from safetensors.torch import load_file

    model.load_state_dict(load_file("policy-seed0.safetensors"))
    assert_accuracy(trained, recount_boxed(model, tokenizer, items, 10))


def test_prepare_script_converts_dataset_rows() -> None:
    path = ROOT.parent / "scripts" / "prepare_gpu.py"
    spec = importlib.util.spec_from_file_location("prepare_gpu", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    records = [
        {"q": "What is 1+1?", "a": ["2"]},
        {"q": "Empty", "a": []},
        {"q": "x?", "a": " 3 "},
    ]
    assert module.rows(records, "q", "a") == [
        {"question": "What is 1+1?", "answer": "2"},
        {"question": "x?", "answer": "3"},
    ]
    gpu = yaml.safe_load(GPU_CONF.read_text())
    assert set(gpu["eval_sets"]) >= {"math500", "aime24", "amc", "olympiadbench"}
    assert gpu["task"]["template"].format(question="Q").endswith("Solution:")


def test_the_gpu_check_builds_the_gpu_settings_without_a_gpu(tmp_path: Path) -> None:
    """The GPU check's CPU part: the ``gpu`` scale composes into CUDA settings whose model,
    training file and evaluation sets all lie under ``--data-dir`` (what prepare_gpu.py
    writes), with the scale's task kind and prompt template read here from its YAML."""
    script = ROOT.parent / "scripts" / "gpu_check.py"
    scale = yaml.safe_load((ROOT / "conf" / "task" / "rl_algo" / "scale" / "gpu.yaml").read_text())
    proc = subprocess.run(
        [sys.executable, str(script), "--dry-run", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    settings = json.loads(proc.stdout)
    assert settings["device"] == "cuda"
    assert settings["policy"]["path"] == str(tmp_path / "model")
    assert settings["task"]["train_file"] == str(tmp_path / "train.jsonl")
    assert (settings["task"]["kind"], settings["task"]["template"]) == (
        scale["task"]["kind"],
        scale["task"]["template"],
    )
    sets = settings["eval"]["sets"]
    assert sets and all(Path(path).parent == tmp_path / "eval" for path in sets.values())


def test_the_gpu_scale_gives_trl_a_bf16_config_it_accepts_without_a_gpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CUDA branch of ``driver.grpo_config`` at the full ``gpu`` scale: bf16 on the GPU,
    with the batch and group sizes the scale's YAML asks for. TRL checks them (the generation
    batch must be a multiple of the group) when the config is built. Only bf16 support is
    faked here, because transformers refuses bf16 without a GPU; all of TRL's other checks
    run. The CPU scale must keep fp32 on the CPU."""
    import transformers.training_args

    grpo = yaml.safe_load(GPU_CONF.read_text())["grpo"]
    composed = compose_config(
        ["+task=rl_algo", "task/rl_algo/scale=gpu", f"task.data_dir={tmp_path}"]
    )
    settings = plugin.TASK.settings(OmegaConf.to_container(composed.task, resolve=True))
    cpu_args = driver.grpo_config(plugin.TASK.settings(config(tmp_path)), 0, str(tmp_path / "c"))
    assert (cpu_args.bf16, cpu_args.use_cpu) == (False, True)
    monkeypatch.setattr(transformers.training_args, "is_torch_bf16_gpu_available", lambda: True)
    args = driver.grpo_config(settings, 0, str(tmp_path / "trl"))
    assert (args.bf16, args.use_cpu) == (True, False)
    assert args.num_generations == grpo["group_size"]
    assert args.per_device_train_batch_size == grpo["prompts_per_step"] * grpo["group_size"]
    assert args.generation_batch_size == (
        args.per_device_train_batch_size * grpo["steps_per_generation"]
    )
    assert (args.max_steps, args.max_completion_length) == (
        grpo["steps"],
        grpo["max_completion_length"],
    )
    assert args.activation_checkpointing is grpo["activation_checkpointing"]
    assert (args.learning_rate, args.max_grad_norm) == (grpo["lr"], grpo["max_grad_norm"])
