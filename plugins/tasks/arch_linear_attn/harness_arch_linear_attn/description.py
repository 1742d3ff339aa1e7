"""The researcher's task text for ``arch_linear_attn``, from the driver's settings."""

from __future__ import annotations

from typing import Any


def describe(cfg: dict[str, Any]) -> str:
    """The researcher's task text."""
    proxy, data = cfg["proxy"], cfg["data"]
    source = data.get("source", "synthetic")
    if source == "synthetic":
        text = "synthetic text (words of letters; a letter is predictable only from the word)"
    elif source == "wiki":
        text = f"English Wikipedia lead summaries ({data.get('tokenizer')} tokens)"
    else:
        text = f"text from the dataset {data.get('path')} ({data.get('tokenizer')} tokens)"
    return f"""\
Design a causal, sub-quadratic token-mixing layer (linear attention, state-space model,
delta rule, gating...) that beats DeltaNet in a small language model.

The program must define `class TokenMixer(torch.nn.Module)` with the constructor
`TokenMixer(hidden_size, num_heads, **options)` and `forward(x) -> y`, both
`[batch, seq_len, hidden_size]` float32 tensors, for any seq_len (not only multiples of a
chunk size). It must be causal: output t may depend on inputs 0..t only. Allowed imports:
torch, einops and fla-core's pure-torch reference ops (`fla/ops/*/naive.py`, loaded
standalone as the seed's `load_naive` does: Triton is not available on CPU).

Stage 1, sanity (hidden {cfg["hidden_size"]}, {cfg["num_heads"]} heads): the layer is built,
has at most {cfg["max_mixer_params"]} parameters, keeps the shape, gives finite outputs and
gradients, is causal (outputs before position p must not change when inputs from p on
change) and sub-quadratic (forward FLOPs and time from T to 4T, T =
{cfg["sanity"]["cost_seq_len"]}). A failure stops the evaluation with the reason.

Stage 2, proxy: {proxy["num_layers"]} blocks of [RMSNorm, TokenMixer, RMSNorm, MLP] with a tied
embedding, trained for {proxy["steps"]} AdamW steps on {text} plus multi-query associative recall
(MQAR: `k1 v1 .. k{proxy["mqar_pairs"]} v{proxy["mqar_pairs"]}` over {proxy["mqar_keys"]} keys, then
{proxy["mqar_queries"]} queries `k -> v`). Metrics, measured by the evaluator on
held-out text and MQAR prompts whose answers are never in the input: validation loss and
perplexity, recall accuracy, training tokens/s. DeltaNet is trained with the same budget, data and
seed. Per training seed (task.seeds: {cfg["seeds"]}), score = (DeltaNet val loss - val loss) +
recall_weight * (recall - DeltaNet recall) on that seed; the fitness is the mean over seeds:
0 is DeltaNet, higher is better. Gains smaller than the spread between seeds are noise.
The CPU budget is small, so a layer that learns fast counts; keep the layer cheap on CPU
(python loops over time steps are very slow)."""
