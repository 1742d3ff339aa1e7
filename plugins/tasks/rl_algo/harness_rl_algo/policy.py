"""The trusted half of the task: tasks, policies, the base-policy warm-up and held-out scoring.

Nothing here ever runs next to a candidate's functions. The evaluator (``plugin.py``) runs
this file's source in sandboxed children of its own for two jobs: ``warm_up`` trains the
CPU proxy's base policy (supervised, once, cached) that every GRPO run starts from, and
``score_policies`` loads trained weights (safetensors written by a candidate's training run)
and measures greedy accuracy on held-out problems that the training run is never given. The
training driver (``driver.py``) reuses the task, tokenizer, model and reward code.

Three task kinds share one interface (``load_policy``, ``training_items``, ``reward``,
``heldout_sets``). Two are CPU proxies, a tiny Llama with a character-level tokenizer built
offline: ``chain`` (the default: ``7+5+9+3=`` answered with written steps
``12+9+3=21+3=24``, so completions vary in length with the problem) and ``addition``
(``a+b=``, at most a few tokens). ``math`` is the GPU path (a pretrained base model and
competition-math JSONL files prepared by ``scripts/prepare_gpu.py``).

It needs torch, tokenizers, transformers and safetensors only, never ``harness`` or this
package, which the sandbox may hide. Returned values are plain JSON data.
"""

from __future__ import annotations

import math
import random
import re
import time
import zlib
from pathlib import Path
from typing import Any

import torch

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
CHARS = "0123456789+="
HELDOUT_PERCENT = 20  # share of a proxy's problem space reserved for held-out scoring
WEIGHTS = "policy.safetensors"
PROXIES = ("chain", "addition")  # the CPU proxies: a tiny policy warmed up from scratch


# ----------------------------------------------------------------- the CPU proxies


def is_heldout(prompt: str) -> bool:
    """Whether a problem belongs to the held-out part of the problem space (a fixed hash of
    its prompt).

    Training prompts (warm-up and GRPO) come only from the rest, so the score measures
    generalisation to problems the policy was never trained on.
    """
    return zlib.crc32(prompt.encode()) % 100 < HELDOUT_PERCENT


def chain_steps(operands: list[int]) -> str:
    """The written solution of ``a+b+c+...=``: fold the first two terms until one is left.

    ``[7, 5, 9]`` gives ``"12+9=21"``; two operands give the sum alone (``"12"``). Its length
    grows with the number of terms, which is what lets length normalisation matter.
    """
    steps, terms = [], list(operands)
    while len(terms) > 1:
        terms = [terms[0] + terms[1], *terms[2:]]
        steps.append("+".join(map(str, terms)))
    return "=".join(steps)


def proxy_problems(
    task: dict[str, Any], count: int, seed: int, heldout: bool
) -> list[tuple[str, str]]:
    """``count`` (prompt, target) pairs from one side of the split.

    ``addition``: ``("37+45=", "82")``. ``chain``: ``min_terms`` to ``max_terms`` operands
    and the written steps as target, ``("7+5+9=", "12+9=21")``; the reward reads only the
    final answer (:func:`final_answer`), the steps are what the warm-up imitates.
    """
    rng = random.Random(seed)
    low, high = int(task["min_operand"]), int(task["max_operand"])
    chain = task["kind"] == "chain"
    found: list[tuple[str, str]] = []
    while len(found) < count:
        terms = rng.randint(int(task["min_terms"]), int(task["max_terms"])) if chain else 2
        operands = [rng.randint(low, high) for _ in range(terms)]
        prompt = "+".join(map(str, operands)) + "="
        if is_heldout(prompt) == heldout:
            found.append((prompt, chain_steps(operands)))
    return found


def final_answer(completion: str) -> str:
    """The answer a chain completion ends on: the text after its last ``=`` (all of it when
    there is none, as for two operands)."""
    return completion.rpartition("=")[2].strip()


def build_tokenizer() -> Any:
    """A character-level tokenizer built offline (no model hub): one token per character."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate([PAD, EOS, UNK, *CHARS])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=PAD, eos_token=EOS, unk_token=UNK, padding_side="left"
    )


def build_model(policy: dict[str, Any], tokenizer: Any) -> Any:
    """The tiny LlamaForCausalLM of the proxy, randomly initialised under the torch seed."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=int(policy["hidden_size"]),
        intermediate_size=int(policy["intermediate_size"]),
        num_hidden_layers=int(policy["num_layers"]),
        num_attention_heads=int(policy["num_heads"]),
        num_key_value_heads=int(policy["num_heads"]),
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


# ----------------------------------------------------------------- math (GPU path)


def boxed_answer(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` in ``text`` (nested braces allowed), or None."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, begin = 0, start + len("\\boxed{")
    for i in range(begin, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            if depth == 0:
                return text[begin:i]
            depth -= 1
    return None


def normalise_answer(answer: str) -> str:
    """A canonical form for comparing final answers: no spaces, ``$``, ``\\!``, ``\\left``/
    ``\\right``, trailing period or ``.0``; ``\\dfrac``/``\\tfrac`` read as ``\\frac``."""
    text = answer.strip().strip("$").rstrip(".")
    for old, new in (("\\left", ""), ("\\right", ""), ("\\!", ""), ("dfrac", "frac"),
                     ("tfrac", "frac"), ("^\\circ", ""), ("^{\\circ}", "")):  # fmt: skip
        text = text.replace(old, new)
    text = re.sub(r"\\text\{(.*?)\}", r"\1", text)
    text = re.sub(r"\s+", "", text)
    return re.sub(r"^(-?\d+)\.0+$", r"\1", text)


def math_reward(completion: str, answer: str) -> float:
    """1 when the last boxed answer of the completion equals the reference answer."""
    got = boxed_answer(completion)
    return float(got is not None and normalise_answer(got) == normalise_answer(answer))


def math_items(path: str, template: str, limit: int | None) -> list[tuple[str, str]]:
    """(prompt, answer) pairs from a JSONL file of ``{"question", "answer"}`` rows."""
    from datasets import load_dataset

    rows = load_dataset("json", data_files=path, split="train")
    if limit is not None:
        rows = rows.select(range(min(int(limit), len(rows))))
    return [(template.format(question=r["question"]), str(r["answer"])) for r in rows]


# ----------------------------------------------------------------- the task interface


def load_policy(settings: dict[str, Any], weights: str | Path | None) -> tuple[Any, Any]:
    """(model, tokenizer) of the task's policy, with its weights replaced from ``weights``.

    The architecture always comes from trusted settings; ``weights`` (a safetensors file,
    never a pickle) must supply every tensor with its exact shape, finite.
    """
    device = settings["device"]
    if settings["task"]["kind"] in PROXIES:
        tokenizer = build_tokenizer()
        model = build_model(settings["policy"], tokenizer)
        if weights is None:
            raise ValueError("the proxy policy needs a weights file")
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = settings["policy"]["path"]
        tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, use_safetensors=True)
    if weights is not None:
        load_weights(model, Path(weights))
    return model.to(device), tokenizer


def load_weights(model: Any, path: Path) -> None:
    from safetensors.torch import load_file

    state = load_file(str(path))
    expected = model.state_dict()
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise ValueError(f"weights do not fit the policy: missing {missing[:3]}, extra {extra[:3]}")
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape or not tensor.is_floating_point():
            raise ValueError(f"weight {name!r} has shape {tuple(tensor.shape)} and {tensor.dtype}")
        if not torch.isfinite(tensor).all():
            raise ValueError(f"weight {name!r} contains NaN or inf")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)


def save_weights(model: Any, path: Path) -> None:
    from safetensors.torch import save_file

    # Cloned: tied embedding and output weights share storage, which safetensors refuses.
    save_file({k: v.detach().clone().contiguous().cpu() for k, v in model.state_dict().items()},
              str(path))  # fmt: skip


def training_items(settings: dict[str, Any], count: int, seed: int) -> list[tuple[str, str]]:
    """Training prompts with their answers: never the held-out problems."""
    task = settings["task"]
    if task["kind"] in PROXIES:
        return proxy_problems(task, count, seed, heldout=False)
    items = math_items(task["train_file"], task["template"], None)
    random.Random(seed).shuffle(items)
    return [items[i % len(items)] for i in range(count)]


def reward(task: dict[str, Any], completion: str, answer: str) -> float:
    """The verifiable reward: exact match for addition, the final answer of a chain (its
    steps unchecked), boxed-answer match for math."""
    if task["kind"] == "addition":
        return float(completion.strip() == answer)
    if task["kind"] == "chain":
        return float(final_answer(completion) == final_answer(answer))
    return math_reward(completion, answer)


def heldout_sets(settings: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """The scoring sets by name. Only the scorer gets ``settings["eval"]``."""
    task, cfg = settings["task"], settings["eval"]
    if task["kind"] in PROXIES:
        items = proxy_problems(task, int(cfg["problems"]), int(cfg["seed"]), heldout=True)
        return {task["kind"]: items}
    limit = cfg.get("max_problems")
    return {name: math_items(path, task["template"], limit) for name, path in cfg["sets"].items()}


# ----------------------------------------------------------------- generation and accuracy


@torch.no_grad()
def greedy_answers(
    model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: int, batch: int
) -> list[str]:
    """Greedy completions: the decoded text after each prompt, up to the first EOS."""
    model.eval()
    out: list[str] = []
    for start in range(0, len(prompts), batch):
        encoded = tokenizer(prompts[start : start + batch], return_tensors="pt", padding=True)
        encoded = encoded.to(model.device)
        generated = model.generate(
            **encoded,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
        tail = generated[:, encoded["input_ids"].shape[1] :]
        out += tokenizer.batch_decode(tail, skip_special_tokens=True)
    return out


def accuracy(settings: dict[str, Any], model: Any, tokenizer: Any, items: list) -> float:
    cfg = settings["eval"]
    prompts, answers = [p for p, _ in items], [a for _, a in items]
    got = greedy_answers(
        model, tokenizer, prompts, int(cfg["max_new_tokens"]), int(cfg["batch_size"])
    )
    hits = sum(reward(settings["task"], g, a) for g, a in zip(got, answers, strict=True))
    return hits / len(items)


# ----------------------------------------------------------------- supervised warm-up


def sft_batch(tokenizer: Any, items: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    """Prompt + answer + EOS, left-padded; the loss covers the answer and EOS only."""
    rows = [tokenizer(p + a)["input_ids"] + [tokenizer.eos_token_id] for p, a in items]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    labels = torch.full((len(rows), width), -100)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (row, (prompt, _)) in enumerate(zip(rows, items, strict=True)):
        offset = width - len(row)
        ids[i, offset:] = torch.tensor(row)
        attention[i, offset:] = 1
        start = offset + len(tokenizer(prompt)["input_ids"])
        labels[i, start:] = ids[i, start:]
    return {"input_ids": ids, "attention_mask": attention, "labels": labels}


def warm_up(settings: dict[str, Any]) -> dict[str, Any]:
    """Train the proxy's base policy with supervised steps and save it as ``WEIGHTS``.

    Deterministic for given settings: the evaluator caches the file, and every GRPO run,
    the reference's and each candidate's, starts from these same weights. Stopped early
    on purpose, so that the policy is right on only part of the problems and RL has room.
    """
    torch.set_num_threads(int(settings["threads"]))
    cfg = settings["warmup"]
    torch.manual_seed(int(cfg["seed"]))
    tokenizer = build_tokenizer()
    model = build_model(settings["policy"], tokenizer)
    size, steps = int(cfg["batch_size"]), int(cfg["steps"])
    data = training_items(settings, steps * size, int(cfg["seed"]))
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(cfg["lr"]), weight_decay=0.0)
    started = time.perf_counter()
    model.train()
    losses = []
    for step in range(steps):
        loss = model(**sft_batch(tokenizer, data[step * size : (step + 1) * size])).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    save_weights(model, Path(WEIGHTS))
    return {
        "final_loss": sum(losses[-10:]) / len(losses[-10:]),
        "seconds": time.perf_counter() - started,
        "params": sum(p.numel() for p in model.parameters()),
    }


# ----------------------------------------------------------------- scoring


def score_policies(settings: dict[str, Any], names: list[str | None]) -> dict[str, Any]:
    """Held-out accuracy of each weights file (paths relative to the working directory;
    None: the base policy as configured, for the math task's pretrained model), in order.

    ``accuracy`` is the mean over the held-out sets. A file that does not load as the
    policy (missing or misshapen tensors, NaN) gets ``None`` and the reason.
    """
    torch.set_num_threads(int(settings["threads"]))
    sets = heldout_sets(settings)
    results: list[dict[str, Any]] = []
    for name in names:
        try:
            model, tokenizer = load_policy(settings, name)
        except Exception as exc:  # noqa: BLE001 - an unloadable file is that run's failure
            results.append({"accuracy": None, "error": f"{type(exc).__name__}: {exc}"[:500]})
            continue
        per_set = {key: accuracy(settings, model, tokenizer, items) for key, items in sets.items()}
        mean = sum(per_set.values()) / len(per_set)
        results.append({"accuracy": mean if math.isfinite(mean) else None, "sets": per_set})
        del model
    return {"problems": {key: len(items) for key, items in sets.items()}, "results": results}
