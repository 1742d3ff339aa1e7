"""Dr. GRPO (Liu et al., 2025, "Understanding R1-Zero-Like Training: A Critical
Perspective", arXiv:2503.20783): GRPO without its two biases.

Advantages: reward minus the group mean, not divided by the group's standard deviation (which
up-weights groups that are nearly all right or all wrong). Loss: the clipped surrogate summed
over tokens and divided by a constant (completions x max_completion_length) instead of each
completion's own length, so long wrong answers are not penalised less per token. This is
TRL's ``loss_type="dr_grpo"`` with ``scale_rewards="none"``.

Contract: see the grpo seed. Only torch and math may be imported.
"""

import torch

# EVOLVE-BLOCK-START
EPSILON = 0.2  # PPO clip range


def compute_advantages(rewards, group_size, mask, **kwargs):
    grouped = rewards.view(-1, group_size)
    return (grouped - grouped.mean(dim=1, keepdim=True)).view(-1)


def policy_loss(logps, old_logps, advantages, mask, max_completion_length, **kwargs):
    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(1)
    ratio = torch.exp(logps - old_logps)
    clipped = torch.clamp(ratio, 1.0 - EPSILON, 1.0 + EPSILON)
    per_token = -torch.min(ratio * advantages, clipped * advantages)
    return (per_token * mask).sum() / (logps.shape[0] * max_completion_length)


# EVOLVE-BLOCK-END
