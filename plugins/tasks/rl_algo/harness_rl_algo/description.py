"""The researcher's task text for ``rl_algo``, from the driver's settings."""

from __future__ import annotations

import textwrap
from typing import Any


def describe(cfg: dict[str, Any]) -> str:
    """The researcher's task text."""
    grpo, task = cfg["grpo"], cfg["task"]
    tiny = (
        f"a tiny Llama policy ({cfg['policy']['num_layers']} layers, hidden "
        f"{cfg['policy']['hidden_size']}, one token per character)"
    )
    operands = f"[{task['min_operand']}, {task['max_operand']}]"
    if task["kind"] == "chain":
        what = (
            f"{tiny} summing {task['min_terms']} to {task['max_terms']} operands in "
            f"{operands} with written steps, `7+5+9+3=` -> `12+9+3=21+3=24` (completions of 1 "
            f"to {grpo['max_completion_length']} tokens, longer for more terms), warmed up by "
            "supervised steps to partial accuracy; reward 1 when the number after the "
            "completion's last `=` is the sum, else 0"
        )
    elif task["kind"] == "addition":
        what = (
            f"{tiny} answering `a+b=` for a, b in {operands}, warmed up by supervised steps "
            "to partial accuracy; reward 1 for the exact sum, else 0"
        )
    else:
        what = "a pretrained base model on competition maths; reward 1 for a correct \\boxed{}"
    proxy = (
        f"Stage 2, proxy: GRPO from the same base policy with your functions: {what}. Each "
        f"run samples {grpo['group_size']} completions for each of {grpo['prompts_per_step']} "
        f"prompts per optimiser step, for {grpo['steps']} steps ({grpo['steps_per_generation']} "
        "steps per batch of samples, so the ratio exp(logps - old_logps) moves off 1), lr "
        f"{grpo['lr']}, gradients clipped at norm {grpo['max_grad_norm']}; NaN/inf values or "
        f"gradient norms above {float(grpo['max_grad_norm_abort']):g} fail the run. The "
        "trained policy is scored by greedy accuracy on held-out problems, averaged over "
        f"{len(cfg['seeds'])} seeds. score = accuracy - accuracy of GRPO itself under the "
        "same budget and seeds: 0 is GRPO, higher is better."
    )
    return f"""\
Improve GRPO, the group-relative policy-gradient algorithm used to train reasoning LLMs with
verifiable rewards: change how advantages are assigned to the sampled completions and how the
policy loss turns them into gradients (variance reduction, normalisation, clipping, token
weighting, asymmetric treatment of good and bad samples...).

The program must define two functions, called by a trusted trainer built on TRL's
GRPOTrainer:
  compute_advantages(rewards, group_size, mask, **kwargs) -> advantages
    rewards: float tensor [B], B = prompts x group_size, the group_size completions of each
    prompt contiguous; mask: float tensor [B, T], 1 on completion tokens. Return a finite
    float tensor [B] (one per completion) or [B, T] (one per token).
  policy_loss(logps, old_logps, advantages, mask, **kwargs) -> scalar tensor to minimise
    logps [B, T] (requires grad) and old_logps [B, T]: log-probabilities of the sampled
    tokens under the current and the sampling policy; advantages as you returned them (rows
    shuffled together with everything else); mask [B, T]; kwargs has max_completion_length.
    The loss must be finite, depend on logps and not on padding positions (mask == 0).
Only `torch` and `math` may be imported; no file, frame or interpreter access.

Stage 1, contract: both functions on fixed tensors (shapes, finiteness, gradients, padding).
{textwrap.fill(proxy, 90)}"""
