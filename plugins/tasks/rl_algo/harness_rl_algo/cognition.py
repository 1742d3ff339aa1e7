"""Prior knowledge from the post-GRPO literature that the researcher may be shown.

Written for this plugin from the papers named in each item's ``source``; the numbers are
the papers' own. Each item says what changes in ``compute_advantages`` or ``policy_loss``.
"""

from __future__ import annotations

from harness.driver_task import cognition_items

_ITEMS: tuple[tuple[str, str, str], ...] = (
    (
        "baseline",
        "DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open Language Models "
        "(Shao et al., 2024, arXiv:2402.03300)",
        "GRPO drops PPO's value network: it samples a group of G completions per prompt and "
        "uses (r_i - mean(r)) / std(r) of the group as every token's advantage, with PPO's "
        "clipped ratio objective averaged per completion and a KL penalty to a reference "
        "model. Only groups with mixed rewards carry signal; all-equal groups give zero "
        "advantage.",
    ),
    (
        "normalisation",
        "Understanding R1-Zero-Like Training: A Critical Perspective (Dr. GRPO, Liu et al., "
        "2025, arXiv:2503.20783)",
        "GRPO has two biases. Dividing by the group's reward std up-weights prompts that are "
        "almost always right or almost always wrong (question-level difficulty bias); "
        "averaging each completion's loss over its own length shrinks the per-token penalty of "
        "long wrong answers (length bias), so responses grow. Dr. GRPO removes both: "
        "advantage = r - mean(r), loss summed over tokens and divided by a constant "
        "(completions x max length). Same accuracy, better token efficiency.",
    ),
    (
        "clipping",
        "DAPO: An Open-Source LLM Reinforcement Learning System at Scale (Yu et al., 2025, "
        "arXiv:2503.14476)",
        "Clip-higher: decouple the clip range into [1 - eps_low, 1 + eps_high] with eps_high "
        "(0.28) > eps_low (0.2). A symmetric upper clip stops low-probability tokens with "
        "positive advantage from growing, which collapses entropy early; raising only the "
        "upper bound keeps exploration. DAPO reached 50 on AIME 2024 with Qwen2.5-32B base.",
    ),
    (
        "normalisation",
        "DAPO: An Open-Source LLM Reinforcement Learning System at Scale (Yu et al., 2025, "
        "arXiv:2503.14476)",
        "Token-level policy-gradient loss: average the per-token losses over all tokens of the "
        "batch instead of per sample then over samples. With sample-level averaging every "
        "token of a long completion weighs less, so long gibberish or repetitive answers are "
        "under-penalised; token-level averaging gives each token equal weight.",
    ),
    (
        "sampling",
        "DAPO: An Open-Source LLM Reinforcement Learning System at Scale (Yu et al., 2025, "
        "arXiv:2503.14476)",
        "Dynamic sampling: groups whose rewards are all 1 or all 0 have zero advantage and "
        "only dilute the batch (the effective batch shrinks as accuracy rises). DAPO "
        "over-samples and drops them. Inside a loss, the analogue is to normalise by the "
        "tokens of informative groups only, so the gradient scale does not fall with "
        "accuracy.",
    ),
    (
        "shaping",
        "DAPO: An Open-Source LLM Reinforcement Learning System at Scale (Yu et al., 2025, "
        "arXiv:2503.14476)",
        "Overlong reward shaping: truncated completions get a length-dependent soft penalty in "
        "a buffer zone before the maximum length, instead of a hard 0 that punishes sound but "
        "unfinished reasoning and adds reward noise. Masking the loss of truncated samples "
        "(overlong filtering) also stabilises training.",
    ),
    (
        "kl",
        "DAPO (Yu et al., 2025, arXiv:2503.14476); Open-Reasoner-Zero (Hu et al., 2025, "
        "arXiv:2503.24290)",
        "Removing the KL penalty to the reference policy: for long chain-of-thought RL the "
        "policy must move far from the initial model, and the KL term mainly slows that. "
        "Both works train without KL (beta = 0), as TRL now does by default; "
        "Open-Reasoner-Zero scales with vanilla PPO, GAE (lambda = 1, gamma = 1) and a "
        "plain rule-based reward.",
    ),
    (
        "ratios",
        "Group Sequence Policy Optimization (GSPO, Zheng et al., 2025, arXiv:2507.18071)",
        "Token-level importance ratios are noisy single-sample estimates; their variance grows "
        "with length and destabilises training (especially for MoE models). GSPO uses a "
        "sequence-level ratio, the geometric mean exp(mean_t(logp - old_logp)) over the "
        "completion's tokens, and clips whole sequences; reported more stable and more "
        "efficient than GRPO.",
    ),
    (
        "clipping",
        "MiniMax-M1: Scaling Test-Time Compute Efficiently with Lightning Attention (CISPO, "
        "MiniMax, 2025, arXiv:2506.13585)",
        "CISPO clips the importance-sampling weight instead of the update: loss = "
        "-sg(min(ratio, eps_max)) * A * logp. PPO-style clipping zeroes the gradient of "
        "clipped tokens, and these are often rare 'fork' tokens (However, Wait) that matter "
        "for reflection; CISPO keeps every token's gradient with a bounded weight and "
        "reported a 2x speed-up over DAPO.",
    ),
    (
        "advantage",
        "REINFORCE++: A Simple and Efficient Approach for Aligning Large Language Models "
        "(Hu, 2025, arXiv:2501.03262)",
        "Normalise advantages over the whole batch (global mean and std) instead of per "
        "prompt: per-prompt std normalisation overfits easy prompts and is unstable for small "
        "groups. REINFORCE++ with batch normalisation is more stable than GRPO at the same "
        "cost.",
    ),
    (
        "advantage",
        "Buy 4 REINFORCE Samples, Get a Baseline for Free! (RLOO, Kool et al., 2019); Back to "
        "Basics: REINFORCE Style Optimization (Ahmadian et al., 2024, arXiv:2402.14740)",
        "Leave-one-out baseline: compare each sample with the mean of the other G - 1 samples "
        "of its group, A_i = r_i - mean_{j != i} r_j = G/(G-1) (r_i - mean r). It is an "
        "unbiased baseline (the sample's own reward is not in it), unlike GRPO's mean.",
    ),
    (
        "advantage",
        "Rewarding the Unlikely: Lifting GRPO Beyond Distribution Sharpening (He, Fried and "
        "Welleck, 2025, arXiv:2506.02355)",
        "GRPO sharpens the distribution towards answers the policy already finds likely "
        "(rank bias), which improves pass@1 but can shrink pass@N. Up-weighting correct but "
        "unlikely completions (low sequence log-probability) in the advantage counters it and "
        "raises pass@N.",
    ),
    (
        "shaping",
        "The Surprising Effectiveness of Negative Reinforcement in LLM Reasoning (Zhu et al., "
        "2025, arXiv:2506.01347)",
        "Training only on negative samples (pushing down wrong completions) keeps entropy "
        "high and matches or beats full RL at pass@k for large k; positive samples sharpen "
        "quickly and collapse diversity. Weighting the positive term down (e.g. by 0.1) gives "
        "a good trade-off: the signs of the advantage deserve separate weights.",
    ),
    (
        "entropy",
        "Beyond the 80/20 Rule: High-Entropy Minority Tokens Drive Effective RL for LLM "
        "Reasoning (Wang et al., 2025, arXiv:2506.01939)",
        "Only about 20% of the tokens of a chain of thought are high-entropy 'forking' "
        "tokens, and restricting the policy gradient to them matches or beats full-gradient "
        "RL on Qwen3-32B. The per-token mask or weight in the loss can focus on uncertain "
        "positions (low logp under the sampling policy).",
    ),
    (
        "entropy",
        "The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models (Cui "
        "et al., 2025, arXiv:2505.22617)",
        "Entropy falls when high-probability tokens get positive advantage (the covariance of "
        "logp and advantage drives it). Clip-Cov / KL-Cov apply clipping or a KL penalty only "
        "to the few tokens with the highest covariance between log-probability and advantage, "
        "which keeps entropy up and improves results.",
    ),
    (
        "variance",
        "VAPO: Efficient and Reliable Reinforcement Learning for Advanced Reasoning Tasks "
        "(Yue et al., 2025, arXiv:2504.05118)",
        "Value-based augmentation of GRPO-style training: length-adaptive GAE (lambda grows "
        "with the response length), token-level loss, clip-higher, and a positive-example LM "
        "loss on correct samples. Mixing a small supervised term on correct completions "
        "stabilises learning when rewards are sparse.",
    ),
    (
        "search",
        "ASI-Evolve (the paper this harness re-implements), Section 4.3",
        "Evolved algorithms that beat GRPO on Qwen3-14B: (A) pairwise asymmetric "
        "optimisation, with the advantage as the mean of tanh-normalised pairwise reward "
        "differences within the group, a clip range that depends on the advantage's sign, and "
        "random gradient dropout of the most influential tokens (probability x advantage); "
        "(B) percentile-based advantage normalisation (r - c) / s with a per-token trust "
        "radius inversely proportional to |A| under a global update budget.",
    ),
)

COGNITION = cognition_items(_ITEMS)
