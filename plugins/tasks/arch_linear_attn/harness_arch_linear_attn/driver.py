"""The evaluation driver: the checks and the proxy training that run next to a candidate layer.

The evaluator (``plugin.py``) sends this file's source into the sandbox with the candidate
(see ``plugin.compose``), so the candidate's layer is only ever built in the sandboxed
child. It needs torch, numpy and the standard library only, never ``harness`` or this
package, which the sandbox may hide. What the candidate's process produces can be forged by
the candidate, so the score never comes from it: training leaves weights, a second process
leaves logits on held-out inputs, and the evaluator computes every metric from those with
targets it never hands over (``held_out_set``).
"""

from __future__ import annotations

import math
import random
import time
import traceback
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

CLASS_NAME = "TokenMixer"
IGNORE = -100


class CheckFailed(Exception):
    """A sanity check rejected the layer; the message says why, for the researcher."""


# ----------------------------------------------------------------- the layer


def build_mixer(namespace: dict[str, Any], hidden: int, heads: int, options: dict) -> nn.Module:
    """Instantiate the candidate's ``TokenMixer(hidden_size, num_heads, **options)``."""
    cls = namespace.get(CLASS_NAME)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise CheckFailed(f"the program must define a class {CLASS_NAME}(torch.nn.Module)")
    return cls(hidden, heads, **options)


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ----------------------------------------------------------------- sanity


def check_shape(mixer: nn.Module, hidden: int, length: int) -> None:
    x = torch.randn(2, length, hidden)
    y = mixer(x)
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != tuple(x.shape):
        got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise CheckFailed(f"forward(x) must return a tensor of shape {tuple(x.shape)}, got {got}")


def check_finite(mixer: nn.Module, hidden: int, length: int) -> None:
    x = torch.randn(2, length, hidden, requires_grad=True)
    y = mixer(x)
    if not torch.isfinite(y).all():
        raise CheckFailed("forward(x) produced NaN or inf")
    y.square().mean().backward()
    if x.grad is None or not torch.isfinite(x.grad).all():
        raise CheckFailed("the gradient with respect to the input is missing, NaN or inf")
    for name, param in mixer.named_parameters():
        if param.grad is not None and not torch.isfinite(param.grad).all():
            raise CheckFailed(f"the gradient of parameter {name!r} is NaN or inf")
    mixer.zero_grad(set_to_none=True)


def first_change(a: torch.Tensor, b: torch.Tensor, tol: float) -> int | None:
    """The first sequence position (dim 1) where ``a`` and ``b`` differ by more than ``tol``."""
    diff = (a - b).abs().amax(dim=(0, 2))
    changed = (diff > tol * (1.0 + a.abs().amax())).nonzero()
    return int(changed[0]) if len(changed) else None


@torch.no_grad()
def check_causality(mixer: nn.Module, hidden: int, length: int, tol: float) -> None:
    """Perturb the tokens from position p on; outputs before p must not move, for several p."""
    x = torch.randn(2, length, hidden)
    y = mixer(x)
    cuts = sorted({1, length // 3, length // 2 + 3, length - 1})
    for cut in cuts:
        x2 = x.clone()
        x2[:, cut:] = torch.randn_like(x2[:, cut:]) * 3.0
        leak = first_change(y[:, :cut], mixer(x2)[:, :cut], tol)
        if leak is not None:
            raise CheckFailed(
                f"not causal: changing the tokens at positions >= {cut} changed the output at "
                f"position {leak} (first leaking position; seq_len {length}). Output t may "
                f"depend only on inputs 0..t"
            )
    x2 = x.clone()
    x2[1] = torch.randn_like(x2[1])
    if first_change(y[:1], mixer(x2)[:1], tol) is not None:
        raise CheckFailed("batch elements are not independent: changing one changed another")


def forward_flops(mixer: nn.Module, hidden: int, length: int) -> int:
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        mixer(torch.randn(1, length, hidden))
    return int(counter.get_total_flops())


def forward_seconds(mixer: nn.Module, hidden: int, length: int, repeats: int) -> float:
    """The fastest of ``repeats`` timed forward passes, after one warm-up (min resists noise)."""
    x = torch.randn(1, length, hidden)
    best = math.inf
    with torch.no_grad():
        mixer(x)
        for _ in range(repeats):
            start = time.perf_counter()
            mixer(x)
            best = min(best, time.perf_counter() - start)
    return best


TIME_ROUNDS = 3
"""Timing rounds before a layer is called too slow; each keeps the fastest time so far."""


def check_cost(mixer: nn.Module, hidden: int, cfg: dict[str, Any]) -> dict[str, float]:
    """Growth exponents of FLOPs (exact) and time (fastest forward) from T to 4T: 1 is linear."""
    short, long = int(cfg["cost_seq_len"]), 4 * int(cfg["cost_seq_len"])
    flops = forward_flops(mixer, hidden, short), forward_flops(mixer, hidden, long)
    flop_exp = math.log(max(flops[1], 1) / max(flops[0], 1)) / math.log(4)
    if flop_exp > cfg["max_flop_exponent"]:
        raise CheckFailed(
            f"not sub-quadratic: forward FLOPs grow from {flops[0]:.3g} at T={short} to "
            f"{flops[1]:.3g} at T={long}, i.e. as T^{flop_exp:.2f} (allowed: "
            f"T^{cfg['max_flop_exponent']}); attention over all pairs of positions is quadratic"
        )
    times = [math.inf, math.inf]
    for _ in range(TIME_ROUNDS):  # another round only after a failing one: a busy machine
        for i, n in enumerate((short, long)):
            times[i] = min(times[i], forward_seconds(mixer, hidden, n, int(cfg["time_repeats"])))
        time_exp = math.log(times[1] / max(times[0], 1e-9)) / math.log(4)
        if time_exp <= cfg["max_time_exponent"]:
            break
    else:
        raise CheckFailed(
            f"not sub-quadratic: forward time grows from {times[0] * 1e3:.1f} ms at T={short} "
            f"to {times[1] * 1e3:.1f} ms at T={long}, i.e. as T^{time_exp:.2f} (allowed: "
            f"T^{cfg['max_time_exponent']})"
        )
    return {
        "flops_per_token": flops[1] / long,
        "flop_exponent": round(flop_exp, 3),
        "time_exponent": round(time_exp, 3),
    }


def sanity(namespace: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Construct, parameter budget, shape, finiteness, causality, cost: stop at the first miss."""
    cfg, hidden, heads = settings["sanity"], settings["hidden_size"], settings["num_heads"]
    torch.manual_seed(0)
    checks: list[tuple[str, Callable[[], Any]]] = []
    state: dict[str, Any] = {}
    length = int(cfg["seq_len"])

    def construct() -> None:
        state["mixer"] = build_mixer(namespace, hidden, heads, settings["mixer_options"])
        state["params"] = count_params(state["mixer"])
        if state["params"] > settings["max_mixer_params"]:
            raise CheckFailed(
                f"{state['params']} parameters in one layer; the budget is "
                f"{settings['max_mixer_params']} (task.max_mixer_params)"
            )

    checks.append(("construct", construct))
    checks.append(("shape", lambda: check_shape(state["mixer"], hidden, length)))
    checks.append(("finite", lambda: check_finite(state["mixer"], hidden, length)))
    checks.append(
        ("causality", lambda: check_causality(state["mixer"].eval(), hidden, length, cfg["tol"]))
    )
    checks.append(("cost", lambda: state.update(cost=check_cost(state["mixer"], hidden, cfg))))
    for name, check in checks:
        try:
            check()
        except CheckFailed as exc:
            return {"passed": False, "check": name, "message": str(exc)}
        except Exception as exc:  # noqa: BLE001 - the candidate's own error, reported as data
            tail = "".join(traceback.format_exception(exc)[-8:])
            return {"passed": False, "check": name, "message": f"raised {exc!r}\n{tail}"}
    return {"passed": True, "mixer_params": state["params"], **state["cost"]}


# ----------------------------------------------------------------- data


def lexicon(letters: int, words: int, seed: int) -> list[list[int]]:
    """``words`` distinct random words of 2-6 letters; token 0 is the space between words."""
    rng = random.Random(seed)
    found: dict[tuple[int, ...], None] = {}
    while len(found) < words:
        found[tuple(rng.randrange(1, letters) for _ in range(rng.randint(2, 6)))] = None
    return [list(word) for word in found]


def word_stream(words: list[list[int]], length: int, seed: int) -> torch.Tensor:
    """Text of Zipf-distributed words: a letter is predictable only from the word so far."""
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) for rank in range(len(words))]
    out: list[int] = []
    while len(out) < length:
        out += rng.choices(words, weights)[0] + [0]
    return torch.tensor(out[:length], dtype=torch.long)


def lm_batch(stream: torch.Tensor, batch: int, length: int, gen: torch.Generator) -> torch.Tensor:
    starts = torch.randint(0, len(stream) - length - 1, (batch,), generator=gen)
    return torch.stack([stream[s : s + length + 1] for s in starts.tolist()])


def mqar_batch(
    batch: int, pairs: int, queries: int, offset: int, keys: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-query associative recall: ``k1 v1 .. kn vn`` then ``q1 a1 q2 a2 ..``.

    Keys are token ids ``offset .. offset + keys``, values the next ``keys`` ids. The target
    at each query key is its value; every other position is ignored by the loss.
    """
    key = torch.rand(batch, keys, generator=gen).argsort(dim=1)[:, :pairs] + offset
    val = torch.randint(0, keys, (batch, pairs), generator=gen) + offset + keys
    pick = torch.randint(0, pairs, (batch, queries), generator=gen)
    qk, qv = key.gather(1, pick), val.gather(1, pick)
    inputs = torch.cat(
        [torch.stack([key, val], 2).flatten(1), torch.stack([qk, qv], 2).flatten(1)], dim=1
    )
    targets = torch.full_like(inputs, IGNORE)
    targets[:, 2 * pairs :: 2] = qv
    return inputs, targets


# ----------------------------------------------------------------- the proxy model


class Block(nn.Module):
    """Pre-norm residual block: the candidate mixer, then an MLP."""

    def __init__(self, mixer: nn.Module, hidden: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.RMSNorm(hidden), nn.RMSNorm(hidden)
        self.mixer = mixer
        self.mlp = nn.Sequential(
            nn.Linear(hidden, 4 * hidden), nn.GELU(), nn.Linear(4 * hidden, hidden)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mixer(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ProxyLM(nn.Module):
    """Embedding, blocks of the candidate mixer, final norm, head tied to the embedding."""

    def __init__(self, make_mixer: Callable[[], nn.Module], vocab: int, hidden: int, layers: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(make_mixer(), hidden) for _ in range(layers))
        self.norm = nn.RMSNorm(hidden)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x)
        return self.norm(x) @ self.embed.weight.T


def lr_at(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))


def build_model(namespace: dict[str, Any], settings: dict[str, Any]) -> ProxyLM:
    """The proxy LM around the candidate's mixer, on the configured device."""
    cfg = settings["proxy"]
    model = ProxyLM(
        lambda: build_mixer(
            namespace, settings["hidden_size"], settings["num_heads"], settings["mixer_options"]
        ),
        int(cfg["lm_vocab"]) + 2 * int(cfg["mqar_keys"]),
        settings["hidden_size"],
        int(cfg["num_layers"]),
    )
    return model.to(torch.device(settings.get("device", "cpu")))


def weights_file(seed: int) -> str:
    return f"weights-seed{seed}.pt"


def logits_file(seed: int) -> str:
    return f"logits-seed{seed}.npy"


HELD_OUT = "held-out.npz"
TRAIN_TOKENS = "train-tokens.npy"
"""Real-text training tokens (``task.data.source=datasets``), linked in by the evaluator."""


def training_text(settings: dict[str, Any]) -> torch.Tensor:
    """The training token stream: the evaluator's real text, else generated words."""
    if settings.get("data", {}).get("source", "synthetic") != "synthetic":
        import numpy as np

        return torch.from_numpy(np.load(TRAIN_TOKENS, allow_pickle=False).astype(np.int64))
    cfg = settings["proxy"]
    words = lexicon(int(cfg["lm_vocab"]), int(cfg["words"]), int(cfg["data_seed"]))
    return word_stream(words, int(cfg["train_tokens"]), int(cfg["data_seed"]) + 1)


def train_once(namespace: dict[str, Any], settings: dict[str, Any], seed: int) -> ProxyLM:
    """Train the proxy LM on text + MQAR for a fixed budget.

    Each step's MQAR batch has between ``mqar_min_pairs`` and ``mqar_pairs`` pairs: the
    short prompts teach the lookup within the small budget (with only the longest, recall
    stays at chance), the held-out prompts all have ``mqar_pairs``: the longest distances.
    """
    cfg = settings["proxy"]
    lm_vocab, keys = int(cfg["lm_vocab"]), int(cfg["mqar_keys"])
    train = training_text(settings)
    torch.manual_seed(seed)
    model = build_model(namespace, settings)
    device = next(model.parameters()).device
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=0.1, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(seed)
    steps, batch, length = int(cfg["steps"]), int(cfg["batch_size"]), int(cfg["seq_len"])
    fewest, most = int(cfg["mqar_min_pairs"]), int(cfg["mqar_pairs"])
    model.train()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, cfg["lr"], int(cfg["warmup_steps"]))
        chunk = lm_batch(train, batch, length, gen).to(device)
        logits = model(chunk[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), chunk[:, 1:].flatten())
        pairs = int(torch.randint(fewest, most + 1, (), generator=gen))
        mqar = mqar_batch(
            int(cfg["mqar_batch_size"]), pairs, int(cfg["mqar_queries"]), lm_vocab, keys, gen
        )
        inputs, targets = (t.to(device) for t in mqar)
        logits = model(inputs)
        loss = loss + F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss.item()} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return model.eval()


def train_tokens(settings: dict[str, Any]) -> int:
    """Tokens one training run reads: its language-model rows and MQAR sequences."""
    cfg = settings["proxy"]
    lm = int(cfg["batch_size"]) * int(cfg["seq_len"])
    pairs = (int(cfg["mqar_min_pairs"]) + int(cfg["mqar_pairs"])) / 2  # the mean drawn
    mqar = int(cfg["mqar_batch_size"]) * 2 * (pairs + int(cfg["mqar_queries"]))
    return int(cfg["steps"] * (lm + mqar))


def held_out_set(
    settings: dict[str, Any], eval_seed: int, text: torch.Tensor | None = None
) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """Named held-out batches ``(name, inputs [n, L], targets [n])``.

    The target of a row is the token right after its last input, so no layer can read it,
    causal or not: language-model rows of several lengths from ``text`` (the real-text
    held-out tokens; by default generated with ``eval_seed`` from the training lexicon),
    at positions drawn with ``eval_seed``, and MQAR prompts cut just after query ``i``'s
    key, whose value is the target. The evaluator draws them with a seed the candidate's
    process is never given, and keeps the targets to itself.
    """
    cfg = settings["proxy"]
    lm_vocab, keys = int(cfg["lm_vocab"]), int(cfg["mqar_keys"])
    pairs, queries = int(cfg["mqar_pairs"]), int(cfg["mqar_queries"])
    lengths = [int(n) for n in cfg["eval_lengths"]]
    rows = int(cfg["eval_rows_per_length"])
    if text is None:
        words = lexicon(lm_vocab, int(cfg["words"]), int(cfg["data_seed"]))
        text = word_stream(words, rows * (max(lengths) + 1) * 4, eval_seed)
    if len(text) <= max(lengths) + 1:
        raise ValueError(f"{len(text)} held-out tokens cannot fill rows of {max(lengths)}")
    gen = torch.Generator().manual_seed(eval_seed)
    batches = []
    for length in lengths:
        chunk = lm_batch(text, rows, length, gen)
        batches.append((f"lm{length}", chunk[:, :-1], chunk[:, -1]))
    per_query = max(1, int(cfg["mqar_eval_examples"]) // queries)
    for query in range(queries):
        inputs, targets = mqar_batch(per_query, pairs, queries, lm_vocab, keys, gen)
        cut = 2 * pairs + 2 * query + 1
        batches.append((f"mqar{query}", inputs[:, :cut], targets[:, cut - 1]))
    return batches


def proxy_train(namespace: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Train one model per seed and save its weights in the working directory.

    Nothing this returns enters the score: the evaluator scores the weights on its own
    held-out data (stage ``logits``) and counts their parameters itself.
    """
    hidden, length = settings["hidden_size"], 4 * int(settings["sanity"]["cost_seq_len"])
    torch.manual_seed(0)
    mixer = build_mixer(namespace, hidden, settings["num_heads"], settings["mixer_options"])
    flops = forward_flops(mixer, hidden, length) / length
    for seed in settings["seeds"]:
        model = train_once(namespace, settings, int(seed))
        torch.save(model.state_dict(), weights_file(int(seed)))
    return {"flops_per_token": flops}


@torch.no_grad()
def proxy_logits(namespace: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Each seed's model on the held-out inputs: the last position's logits, saved as
    ``logits-seed<s>.npy`` with the batches' rows in the file's order."""
    import numpy as np

    with np.load(HELD_OUT, allow_pickle=False) as data:
        inputs = [torch.from_numpy(data[name]).long() for name in data.files]
    for seed in settings["seeds"]:
        model = build_model(namespace, settings)
        device = next(model.parameters()).device
        model.load_state_dict(torch.load(weights_file(int(seed)), weights_only=True))
        model.eval()
        rows = [model(batch.to(device))[:, -1].float().cpu() for batch in inputs]
        np.save(logits_file(int(seed)), torch.cat(rows).numpy())
    return {"seeds": list(settings["seeds"])}


ZERO_SHOT = "zero-shot.npz"


def loglik_file(seed: int) -> str:
    return f"loglik-seed{seed}.npy"


@torch.no_grad()
def proxy_loglik(namespace: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """For lm-eval's requests (``zero_shot``): each continuation token's logit, the
    log-sum-exp and the largest logit of its position, ``(tokens, 3)`` per seed."""
    import numpy as np

    with np.load(ZERO_SHOT, allow_pickle=False) as data:
        tokens, offsets = torch.from_numpy(data["tokens"]), data["offsets"].tolist()
        targets, lengths = torch.from_numpy(data["targets"]), data["lengths"].tolist()
    starts = [0, *np.cumsum(lengths).tolist()]
    by_length: dict[int, list[int]] = {}
    for row in range(len(lengths)):
        by_length.setdefault(offsets[row + 1] - offsets[row], []).append(row)
    for seed in settings["seeds"]:
        model = build_model(namespace, settings)
        device = next(model.parameters()).device
        model.load_state_dict(torch.load(weights_file(int(seed)), weights_only=True))
        model.eval()
        out = torch.zeros(starts[-1], 3)
        for length, rows in by_length.items():
            batch = torch.stack([tokens[offsets[r] : offsets[r] + length] for r in rows])
            logits = model(batch.to(device)).float().cpu()
            for i, row in enumerate(rows):
                n = lengths[row]
                span = logits[i, length - n :]
                wanted = targets[starts[row] : starts[row] + n]
                out[starts[row] : starts[row + 1]] = torch.stack(
                    [span.gather(1, wanted[:, None])[:, 0], span.logsumexp(1), span.amax(1)], 1
                )
        np.save(loglik_file(int(seed)), out.numpy())
    return {"seeds": list(settings["seeds"])}


STAGES: dict[str, Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]] = {
    "sanity": sanity,
    "train": proxy_train,
    "logits": proxy_logits,
    "loglik": proxy_loglik,
}


def evaluate(stage: str, settings: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    """Entry point called in the sandbox: ``stage`` is a key of ``STAGES``."""
    torch.set_num_threads(int(settings["threads"]))
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    return STAGES[stage](namespace, settings)
