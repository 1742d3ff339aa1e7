"""DeltaNet token mixer (Yang et al., "Parallelizing Linear Transformers with the Delta Rule
over Sequence Length", 2024): the baseline of the arch_linear_attn task.

The layer keeps a fast-weight state S (head_dim x head_dim per head) and, per token, writes
v into it with the delta rule: S <- S + beta * k (v - S^T k)^T, read out with q. q and k pass
through a short causal depthwise convolution and SiLU and are l2-normalised; beta is a
per-head sigmoid gate. Training uses the chunkwise-parallel form: fla's Triton kernel on
CUDA, fla's pure-torch reference op (``fla/ops/delta_rule/naive.py``) elsewhere.

Contract: ``TokenMixer(hidden_size, num_heads, **options)`` is an ``nn.Module`` whose
``forward(x)`` maps ``[batch, seq_len, hidden_size]`` to the same shape, causally.
Only the code between the EVOLVE-BLOCK markers is meant to change.
"""

import functools
import importlib.util
import os

import torch
import torch.nn.functional as F
from torch import nn


@functools.cache
def load_naive(family):
    """fla's pure-torch reference module ``fla/ops/<family>/naive.py``, loaded on its own.

    Importing it by its dotted name would run fla's package initialisers, which need Triton.
    """
    spec = importlib.util.find_spec("fla")
    if spec is None or spec.origin is None:
        raise ImportError("fla-core is not installed (pip install fla-core)")
    path = os.path.join(os.path.dirname(spec.origin), "ops", family, "naive.py")
    module_spec = importlib.util.spec_from_file_location(f"fla_naive_{family}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def delta_rule(q, k, v, beta, chunk_size=64):
    """Delta-rule attention over ``[B, T, H, D]`` inputs (q, k l2-normalised), beta ``[B, T, H]``.

    CUDA: fla's chunked Triton kernel. CPU: fla's naive chunkwise op, which wants
    ``[B, H, T, D]`` and T a multiple of the chunk size, so the sequence is zero-padded at
    the end (a zero key and beta write nothing, so earlier outputs are unchanged).
    """
    if q.is_cuda:
        from fla.ops.delta_rule import chunk_delta_rule

        return chunk_delta_rule(q, k, v, beta)[0]
    naive = load_naive("delta_rule")
    length = q.shape[1]
    pad = (-length) % chunk_size
    q, k, v = (F.pad(t, (0, 0, 0, 0, 0, pad)).transpose(1, 2) for t in (q, k, v))
    beta = F.pad(beta, (0, 0, 0, pad)).transpose(1, 2)
    out, _ = naive.delta_rule_chunkwise(q, k, v, beta, chunk_size=chunk_size)
    return out.transpose(1, 2)[:, :length]


# EVOLVE-BLOCK-START


class ShortConv(nn.Module):
    """Causal depthwise convolution over time (each channel sees its last ``size`` inputs)."""

    def __init__(self, channels, size=4):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, size, groups=channels, padding=size - 1)

    def forward(self, x):
        return self.conv(x.transpose(1, 2))[..., : x.shape[1]].transpose(1, 2)


class TokenMixer(nn.Module):
    """DeltaNet: projections, short convolutions, SiLU, l2-normalised q/k, sigmoid beta."""

    def __init__(self, hidden_size, num_heads, conv_size=4, chunk_size=64, norm_eps=1e-5):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.chunk_size = chunk_size
        self.q_proj = nn.Linear(hidden_size, hidden_size, bias=False)
        self.k_proj = nn.Linear(hidden_size, hidden_size, bias=False)
        self.v_proj = nn.Linear(hidden_size, hidden_size, bias=False)
        self.b_proj = nn.Linear(hidden_size, num_heads, bias=False)
        self.q_conv = ShortConv(hidden_size, conv_size)
        self.k_conv = ShortConv(hidden_size, conv_size)
        self.v_conv = ShortConv(hidden_size, conv_size)
        self.o_norm = nn.RMSNorm(self.head_dim, eps=norm_eps)
        self.o_proj = nn.Linear(hidden_size, hidden_size, bias=False)

    def forward(self, x):
        batch, length, _ = x.shape
        shape = (batch, length, self.num_heads, self.head_dim)
        q = F.silu(self.q_conv(self.q_proj(x))).view(shape)
        k = F.silu(self.k_conv(self.k_proj(x))).view(shape)
        v = F.silu(self.v_conv(self.v_proj(x))).view(shape)
        q, k = F.normalize(q, p=2, dim=-1), F.normalize(k, p=2, dim=-1)
        beta = torch.sigmoid(self.b_proj(x))
        out = delta_rule(q, k, v, beta, self.chunk_size)
        return self.o_proj(self.o_norm(out).reshape(batch, length, -1))


# EVOLVE-BLOCK-END
