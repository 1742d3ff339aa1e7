"""GRPO (Shao et al., 2024, "DeepSeekMath", arXiv:2402.03300): the seed and the reference.

Advantages: each completion's reward minus its group's mean, divided by the group's standard
deviation. Loss: the PPO clipped surrogate per token, averaged over each completion's tokens,
then over completions; no KL term (beta = 0, TRL's default). This is TRL's
``loss_type="grpo"`` with ``scale_rewards="group"``.

Contract (called by the trusted trainer, a subclass of TRL's GRPOTrainer):
  compute_advantages(rewards, group_size, mask, **kwargs) -> advantages
      rewards [B] float (B = prompts x group_size, each group's completions contiguous),
      mask [B, T] float (1 on completion tokens); returns [B] or per-token [B, T], finite.
  policy_loss(logps, old_logps, advantages, mask, **kwargs) -> scalar loss to minimise
      logps [B, T] (with gradient) and old_logps [B, T] are the per-token log-probabilities
      of the sampled tokens under the current and the sampling policy, advantages as
      returned above (rows shuffled along with the rest), mask [B, T];
      kwargs: max_completion_length (int).
Only torch and math may be imported. Only the code between the EVOLVE-BLOCK markers is
meant to change.
"""

import torch

# EVOLVE-BLOCK-START
EPSILON = 0.2  # PPO clip range: the ratio may move to [1 - EPSILON, 1 + EPSILON]
STD_EPS = 0.0001  # keeps a group whose rewards are all equal at advantage 0


def compute_advantages(rewards, group_size, mask, **kwargs):
    grouped = rewards.view(-1, group_size)
    mean = grouped.mean(dim=1, keepdim=True)
    std = grouped.std(dim=1, keepdim=True)
    return ((grouped - mean) / (std + STD_EPS)).view(-1)


def policy_loss(logps, old_logps, advantages, mask, **kwargs):
    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(1)
    ratio = torch.exp(logps - old_logps)
    clipped = torch.clamp(ratio, 1.0 - EPSILON, 1.0 + EPSILON)
    per_token = -torch.min(ratio * advantages, clipped * advantages)
    per_completion = (per_token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    return per_completion.mean()


# EVOLVE-BLOCK-END
