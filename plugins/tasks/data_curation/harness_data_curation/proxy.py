"""The proxy: train a tiny Llama on a curated corpus, score it on held-out clean text.

Trusted code, run alone (no candidate code) in a sandboxed child per training seed, in a
work dir holding ``corpus.jsonl`` (the curated documents), ``heldout.jsonl``,
``tokenizer.json`` and ``tasks/<name>.jsonl``. The evaluator validated the corpus first; the
candidate can change the text trained on, nothing else.

Every candidate gets the same budget: ``steps x batch_size x seq_len`` tokens of its corpus,
the documents shuffled by ``order_seed`` alone (the same order for every model seed),
joined with ``<|eos|>`` and packed; a corpus smaller than the budget is repeated. The seed
sets only the initialisation. Scores: bits per byte on the held-out documents (independent
of the tokenizer) and lm-eval ``multiple_choice`` accuracies, one task per
``simple_evaluate`` call (several local tasks in one call gave wrong accuracies for one of
them; see the README).
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any

EOS = "<|eos|>"


def _offline(named: bool) -> None:
    """No hub access unless the config names lm-eval tasks whose data must be fetched."""
    if not named:
        for key in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
            os.environ[key] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _read(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def token_stream(texts: list[str], tokenizer: Any, order_seed: int, needed: int) -> list[int]:
    """The documents in the fixed order, each followed by EOS, repeated up to ``needed``."""
    eos = tokenizer.token_to_id(EOS)
    order = list(range(len(texts)))
    random.Random(order_seed).shuffle(order)
    stream: list[int] = []
    for encoding in tokenizer.encode_batch([texts[i] for i in order]):
        stream.extend(encoding.ids)
        stream.append(eos)
    if not stream or len(stream) == len(texts):
        raise ValueError("the curated corpus has no tokens")
    one_pass = len(stream)
    while len(stream) < needed:
        stream.extend(stream[: min(one_pass, needed - len(stream))])
    return stream[:needed] if len(stream) > needed else stream


def build_model(settings: dict[str, Any], vocab_size: int, eos: int, seed: int) -> Any:
    """The Llama of the settings' ``model``, initialised from ``seed``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    m = settings["model"]
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=m["hidden"],
        intermediate_size=m["mlp"],
        num_hidden_layers=m["layers"],
        num_attention_heads=m["heads"],
        num_key_value_heads=m["heads"],
        max_position_embeddings=max(
            settings["train"]["seq_len"], settings["benchmarks"]["max_length"]
        ),  # fmt: skip
        tie_word_embeddings=True,
        bos_token_id=eos,
        eos_token_id=eos,
        pad_token_id=eos,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def _lr(step: int, steps: int, peak: float, warmup_fraction: float) -> float:
    warmup = max(1, round(steps * warmup_fraction))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


def train(model: Any, stream: list[int], settings: dict[str, Any]) -> dict[str, Any]:
    """Train on ``stream`` in order (rows of ``seq_len`` tokens, the next-token loss)."""
    import torch
    import torch.nn.functional as F

    t = settings["train"]
    device = settings["device"]
    rows = torch.tensor(stream, dtype=torch.long).view(-1, t["seq_len"])
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    rest = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": t["weight_decay"]}, {"params": rest, "weight_decay": 0}],
        lr=t["lr"],
        betas=(t["beta1"], t["beta2"]),
    )
    model.to(device).train()
    losses = []
    for step in range(t["steps"]):
        for group in optimizer.param_groups:
            group["lr"] = _lr(step, t["steps"], t["lr"], t["warmup_fraction"])
        batch = rows[step * t["batch_size"] : (step + 1) * t["batch_size"]].to(device)
        logits = model(input_ids=batch).logits
        loss = F.cross_entropy(
            logits[:, :-1].reshape(-1, logits.size(-1)).float(), batch[:, 1:].reshape(-1)
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), t["grad_clip"])
        optimizer.step()
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"training loss {losses[-1]} at step {step}")
    tail = max(1, len(losses) // 10)
    return {
        "loss_first": sum(losses[:tail]) / tail,
        "loss_last": sum(losses[-tail:]) / tail,
    }


def bits_per_byte(model: Any, tokenizer: Any, texts: list[str], settings: dict[str, Any]) -> float:
    """Summed next-token NLL of the held-out documents (each after EOS) per UTF-8 byte, in
    bits. Long documents are cut into windows of the model's length (no overlap)."""
    import torch
    import torch.nn.functional as F

    eos = tokenizer.token_to_id(EOS)
    window = settings["train"]["seq_len"]
    device = settings["device"]
    nats, total_bytes = 0.0, 0
    model.eval()
    with torch.no_grad():
        for text, encoding in zip(texts, tokenizer.encode_batch(texts), strict=True):
            ids = [eos, *encoding.ids]
            for start in range(0, len(ids) - 1, window):
                chunk = torch.tensor([ids[start : start + window + 1]], device=device)
                logits = model(input_ids=chunk[:, :-1]).logits.float()
                nats += F.cross_entropy(logits[0], chunk[0, 1:], reduction="sum").item()
            total_bytes += len(text.encode("utf-8"))
    return nats / math.log(2) / total_bytes


def _task_yaml(name: str, data_file: str) -> str:
    return (
        f"task: {name}\n"
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {json.dumps(data_file)}\n"
        "output_type: multiple_choice\n"
        "test_split: test\n"
        # field names, not Jinja templates: lm-eval turns a rendered "9" into the int 9
        "doc_to_text: context\n"
        "doc_to_choice: choices\n"
        "doc_to_target: label\n"
        'target_delimiter: ""\n'
        "metric_list:\n"
        "  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n"
        "  - metric: acc_norm\n    aggregation: mean\n    higher_is_better: true\n"
    )


def benchmarks(model: Any, tokenizer: Any, settings: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each lm-eval task in its own ``simple_evaluate`` call: ``{task: {acc, acc_norm}}``."""
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager
    from transformers import PreTrainedTokenizerFast

    b = settings["benchmarks"]
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS, pad_token=EOS)
    lm = HFLM(pretrained=model, tokenizer=wrapped, batch_size=b["batch_size"],
              max_length=b["max_length"], device=settings["device"])  # fmt: skip
    task_dir = Path("lm_eval_tasks").resolve()
    task_dir.mkdir(exist_ok=True)
    for name in b["local"]:
        data = str(Path("tasks", f"{name}.jsonl").resolve())
        (task_dir / f"{name}.yaml").write_text(_task_yaml(name, data), encoding="utf-8")
    local, named = TaskManager(include_path=str(task_dir)), None
    found = {}
    for name in [*b["local"], *b["named"]]:
        if name in b["named"]:
            named = named or TaskManager()
        out = simple_evaluate(model=lm, tasks=[name], task_manager=local if name in b["local"]
                              else named, limit=b["limit"], bootstrap_iters=0,
                              log_samples=False, verbosity="ERROR")  # fmt: skip
        results = out["results"] if out else {}
        if name not in results:
            raise RuntimeError(f"lm-eval returned no results for {name}: {sorted(results)}")
        row = results[name]
        found[name] = {"acc": float(row["acc,none"]),
                       "acc_norm": float(row.get("acc_norm,none", row["acc,none"]))}  # fmt: skip
    return found


def run(settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """Train on ``corpus.jsonl`` from ``seed``; bits per byte and benchmark accuracies."""
    _offline(bool(settings["benchmarks"]["named"]))
    import torch
    from tokenizers import Tokenizer

    started = time.monotonic()
    torch.set_num_threads(int(settings["threads"]))
    tokenizer = Tokenizer.from_file("tokenizer.json")
    texts = [doc["text"] for doc in _read("corpus.jsonl")]
    t = settings["train"]
    needed = t["steps"] * t["batch_size"] * t["seq_len"]
    stream = token_stream(texts, tokenizer, t["order_seed"], needed)
    corpus_tokens = sum(len(e.ids) + 1 for e in tokenizer.encode_batch(texts))
    eos = tokenizer.token_to_id(EOS)
    model = build_model(settings, tokenizer.get_vocab_size(), eos, seed)
    prepared = time.monotonic()
    losses = train(model, stream, settings)
    trained = time.monotonic()
    bpb = bits_per_byte(model, tokenizer, [d["text"] for d in _read("heldout.jsonl")], settings)
    scored = time.monotonic()
    accuracies = benchmarks(model, tokenizer, settings)
    return {
        "seed": seed,
        "bpb": bpb,
        "benchmarks": accuracies,
        **losses,
        "corpus_tokens": corpus_tokens,
        "epochs": needed / corpus_tokens,
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds": {
            "prepare": round(prepared - started, 2),
            "train": round(trained - prepared, 2),
            "bpb": round(scored - trained, 2),
            "benchmarks": round(time.monotonic() - scored, 2),
        },
    }
