"""Prior knowledge about linear attention and state-space layers the researcher may be shown.

Written for this plugin from the papers named in each item's ``source``; the numbers are
the papers' own unless an item says it was measured with this plugin.
"""

from __future__ import annotations

from harness.driver_task import cognition_items

_ITEMS: tuple[tuple[str, str, str], ...] = (
    (
        "linear attention",
        "Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention "
        "(Katharopoulos et al., 2020)",
        "Replacing softmax(QK^T)V by phi(Q)(phi(K)^T V) with a positive feature map (elu + 1) "
        "makes causal attention a recurrence over a d x d state S_t = S_{t-1} + phi(k_t) v_t^T: "
        "O(T d^2) time and O(d^2) memory instead of O(T^2 d). Normalising by phi(q_t) . sum "
        "phi(k) keeps outputs bounded but is numerically fragile.",
    ),
    (
        "linear attention",
        "The Devil in Linear Transformer (Qin et al., 2022)",
        "The denominator of normalised linear attention causes unbounded gradients and attention "
        "dilution; dropping it and normalising the output instead (a LayerNorm/RMSNorm on the "
        "read-out, as in TransNormer) trains more stably. Most modern linear-attention layers "
        "keep an output norm and no denominator.",
    ),
    (
        "linear attention",
        "Finetuning Pretrained Transformers into RNNs (Kasai et al., 2021)",
        "A learned feature map (a small MLP with ReLU) for q and k works better than fixed ones "
        "like elu + 1; the choice of feature map changes how sharply the state can focus on a few"
        " keys.",
    ),
    (
        "linear attention",
        "Linear Transformers Are Secretly Fast Weight Programmers (Schlag, Irie and Schmidhuber, "
        "2021)",
        "Linear attention is a fast-weight memory written additively, so it cannot overwrite an "
        "old association and its capacity is bounded by d. Writing with the delta rule, S <- S + "
        "beta k (v - S^T k)^T, replaces the value stored under k instead of adding to it, and "
        "improves recall; l2-normalised keys keep the update stable.",
    ),
    (
        "delta rule",
        "Parallelizing Linear Transformers with the Delta Rule over Sequence Length (Yang, Wang, "
        "Zhang, Shen and Kim, 2024)",
        "DeltaNet trains in parallel with a chunkwise form: inside a chunk the products of "
        "Householder-like transitions (I - beta k k^T) are written compactly with the WY "
        "representation, (I - tril(diag(beta) K K^T))^{-1}; across chunks the state is passed on."
        " The cost is O(T C d + T d^2) for chunk size C. It beats Mamba and GLA on recall-heavy "
        "tasks such as MQAR.",
    ),
    (
        "delta rule",
        "Parallelizing Linear Transformers with the Delta Rule over Sequence Length (Yang et al.,"
        " 2024)",
        "In DeltaNet the short causal convolutions on q, k and v (kernel 4), SiLU, l2 "
        "normalisation of q and k and the sigmoid beta all matter in ablations; removing the "
        "short convolution hurts most on language modelling, and without l2 normalisation the "
        "delta update can diverge because the transition I - beta k k^T is only contractive for "
        "||k|| <= 1 and beta in [0, 2].",
    ),
    (
        "delta rule",
        "Gated Delta Networks: Improving Mamba2 with Delta Rule (Yang, Kautz and Hatamizadeh, "
        "2024)",
        "Gated DeltaNet multiplies the state by a data-dependent decay alpha_t in (0, 1) before "
        "the delta update: S_t = alpha_t (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T. "
        "Gating forgets quickly when the context changes, the delta rule edits single "
        "associations; together they beat both Mamba2 and DeltaNet at 1.3B parameters.",
    ),
    (
        "delta rule",
        "Longhorn: State Space Models are Amortized Online Learners (Liu et al., 2024)",
        "The delta rule is one step of online gradient descent on ||S^T k - v||^2 with step size "
        "beta; Longhorn derives the update from an implicit (proximal) step instead, which gives "
        "a step size beta / (1 + beta ||k||^2) that is stable without separate normalisation.",
    ),
    (
        "delta rule",
        "Learning to (Learn at Test Time): RNNs with Expressive Hidden States (Sun et al., 2024)",
        "TTT layers generalise the delta rule: the hidden state is the weights of a small model "
        "trained by gradient steps on a self-supervised loss at test time. A linear inner model "
        "with one step is close to DeltaNet; an MLP inner model is more expressive but slower and"
        " harder to parallelise in chunks.",
    ),
    (
        "delta rule",
        "Titans: Learning to Memorize at Test Time (Behrouz, Zhong and Mirrokni, 2024)",
        "Adding momentum and weight decay (forgetting) to the test-time gradient update of a "
        "memory improves long-context recall; the 'surprise' (gradient size) decides how much a "
        "token is written.",
    ),
    (
        "gating",
        "Gated Linear Attention Transformers with Hardware-Efficient Training (Yang, Wang, Shen, "
        "Panda and Kim, 2023)",
        "GLA adds a data-dependent, per-key-dimension decay: S_t = diag(alpha_t) S_{t-1} + k_t "
        "v_t^T with alpha_t = sigmoid(W x_t)^(1/tau) (tau = 16 keeps decays close to 1 at init). "
        "A chunkwise form with secondary chunking keeps it matmul-based; an output gate (SiLU or "
        "sigmoid of a projection of x) on the read-out also helps.",
    ),
    (
        "gating",
        "Retentive Network: A Successor to Transformer for Large Language Models (Sun et al., "
        "2023)",
        "RetNet uses a fixed, per-head exponential decay gamma (different for each head, e.g. 1 -"
        " 2^(-5 - h)) instead of a data-dependent one: multi-scale retention. Heads with slow "
        "decay keep long context, fast heads model local structure; cheap and parallel but cannot"
        " forget selectively.",
    ),
    (
        "gating",
        "Mamba: Linear-Time Sequence Modeling with Selective State Spaces (Gu and Dao, 2023)",
        "Selectivity: making the SSM's step size Delta, and B and C, functions of the input lets "
        "the model choose what to remember and what to ignore, which fixed (LTI) SSMs cannot; "
        "Delta is passed through softplus, and the discretised decay exp(Delta A) stays in (0, 1)"
        " with A negative.",
    ),
    (
        "gating",
        "Transformers are SSMs: Generalized Models and Efficient Algorithms Through Structured "
        "State Space Duality (Dao and Gu, 2024)",
        "Mamba2 restricts the decay to a scalar per head and time step, which makes the layer a "
        "masked linear attention (structured state space duality) and allows a chunkwise "
        "algorithm built on matmuls; larger state (head dim 64-128, state 64-256) became "
        "affordable and improved recall.",
    ),
    (
        "gating",
        "HGRN2: Gated Linear RNNs with State Expansion (Qin et al., 2024)",
        "Lower-bounded forget gates: later layers get a higher minimum forget value so that upper"
        " layers keep long-range information; state expansion via an outer product (like linear "
        "attention) increases the recurrent state size without more parameters.",
    ),
    (
        "gating",
        "Forgetting Transformer: Softmax Attention with a Forget Gate (Lin et al., 2025)",
        "A scalar sigmoid forget gate per head, accumulated in log space as a bias on attention "
        "logits, improves length extrapolation; the same log-cumsum trick gives numerically "
        "stable decays in chunkwise linear attention (compute cumulative log-gates, never "
        "products of many small numbers).",
    ),
    (
        "state size",
        "Zoology: Measuring and Improving Recall in Efficient Language Models (Arora et al., 2023)",
        "Most of the quality gap between gated convolutions and attention at small scale is "
        "associative recall (MQAR). A layer's recall is limited by its recurrent state size: for "
        "a fixed state, accuracy falls as the number of key-value pairs grows. Input-dependent "
        "mixing is needed; fixed long convolutions do not solve MQAR at any width.",
    ),
    (
        "state size",
        "Simple linear attention language models balance the recall-throughput tradeoff (Arora et"
        " al., 2024)",
        "BASED combines linear attention with a Taylor (2nd order) feature map, which enlarges "
        "the state to d^2/2 per head, with a small sliding-window softmax attention (window 64) "
        "for precise local lookups; moving along the state-size axis trades recall for throughput"
        " on a Pareto front.",
    ),
    (
        "state size",
        "Gated Slot Attention for Efficient Linear-Time Sequence Modeling (Zhang et al., 2024)",
        "Bounded-memory control: a fixed number of slots with a softmax read-out and gated writes"
        " gives sharper retrieval than a linear read-out of the same memory size; slot count is "
        "the state-size knob.",
    ),
    (
        "state size",
        'RWKV-7 "Goose" with Expressive Dynamic State Evolution (Peng et al., 2025)',
        "RWKV-7 uses a generalised delta rule with vector-valued, data-dependent decay and "
        "in-context learning rates and separate removal/replacement keys; it can express state "
        "tracking that diagonal-decay models cannot, at the same O(d^2) state.",
    ),
    (
        "expressivity",
        "Unlocking State-Tracking in Linear RNNs Through Negative Eigenvalues (Grazzi et al., "
        "2024)",
        "Allowing beta in (0, 2) in the delta rule (eigenvalues of I - beta k k^T in (-1, 1)) "
        "lets linear RNNs solve parity and other state-tracking tasks; it is a one-line change (2"
        " * sigmoid) that costs nothing in speed.",
    ),
    (
        "expressivity",
        "DeltaProduct: Improving State-Tracking in Linear RNNs via Householder Products (Siems et"
        " al., 2025)",
        "Taking several delta-rule steps per token (a product of n Householder transitions) "
        "interpolates between diagonal and dense transitions and improves state tracking and "
        "length extrapolation; cost grows linearly with n.",
    ),
    (
        "short convolution",
        "Hungry Hungry Hippos: Towards Language Modeling with State Space Models (Fu et al., 2022)",
        "H3 pairs a shift (short) SSM that remembers the last few tokens with a diagonal SSM and "
        "multiplicative interactions, to compare tokens across the sequence; the short "
        "convolution is what lets a recurrent layer do induction-style matching. Later layers "
        "(DeltaNet, Mamba) keep a depthwise causal convolution of size 3-4.",
    ),
    (
        "short convolution",
        "Mechanistic Design and Scaling of Hybrid Architectures (Poli et al., 2024)",
        "Small synthetic tasks (associative recall, selective copying, compression) predict the "
        "scaling behaviour of new layers well; hybrids that mix a few attention layers with "
        "recurrent ones do best, and state size per channel is a main driver of recall.",
    ),
    (
        "normalisation",
        "Parallelizing Linear Transformers with the Delta Rule over Sequence Length (Yang et al.,"
        " 2024)",
        "Normalising keys and queries with l2 (not sum) normalisation and applying a per-head "
        "RMSNorm on the output before the output projection stabilises training of delta-rule "
        "layers; an output gate (swish of a projection of x) multiplied after the norm gives a "
        "further small gain.",
    ),
    (
        "normalisation",
        "TransNormerLLM: A Faster and Better Large Language Model with Improved TransNormer "
        "(Qin et al., 2023)",
        "Lightning attention splits the causal computation into intra-block (masked, quadratic "
        "within a block of size B) and inter-block (recurrent state) parts, the same chunkwise "
        "scheme used by fla; a SRMSNorm and a data-dependent decay keep it stable at scale.",
    ),
    (
        "chunkwise parallelism",
        "FLA: A Triton-Based Library for Hardware-Efficient Implementations of Linear Attention "
        "Mechanism (Yang and Zhang, 2024)",
        "Chunkwise training: split T into chunks of C (32-64); inside a chunk compute a masked C "
        "x C attention with matmuls, across chunks carry the d x d state. Cost O(T C d + T d^2): "
        "linear in T. A python loop over chunks is fine; a python loop over time steps is 10-50x "
        "slower on CPU and must be avoided.",
    ),
    (
        "chunkwise parallelism",
        "Efficiently Modeling Long Sequences with Structured State Spaces (Gu, Goel and Re, 2021)",
        "S4 computes a long convolution kernel from structured (diagonal plus low-rank) state "
        "matrices and applies it with FFTs in O(T log T); initialisation of the state matrix "
        "(HiPPO) is what lets it remember long histories.",
    ),
    (
        "efficiency",
        "Mamba: Linear-Time Sequence Modeling with Selective State Spaces (Gu and Dao, 2023)",
        "Recurrent layers trade state size for speed: a larger state (expansion factor) improves "
        "recall but costs memory bandwidth; keep the state in fast memory and materialise it only"
        " at chunk boundaries.",
    ),
    (
        "hybrids",
        "Griffin: Mixing Gated Linear Recurrences with Local Attention for Efficient Language "
        "Models (De et al., 2024)",
        "Griffin's RG-LRU has a real-gated diagonal recurrence with a decay a^(c r_t) (c = 8) and"
        " an input gate, and mixes it with local sliding-window attention; local attention is "
        "linear in T for a fixed window and complements the recurrent state on exact local "
        "lookups.",
    ),
    (
        "search",
        "AlphaGo Moment for Model Architecture Discovery (ASI-Arch, Liu et al., 2025)",
        "In an automated search around DeltaNet, the strongest designs combined several paths "
        "(short convolution, long/global path, delta-rule memory) with learned routing or "
        "independent sigmoid gates instead of softmax routing, and kept a floor on each path's "
        "weight so the delta path never collapsed.",
    ),
)

COGNITION = cognition_items(_ITEMS)
