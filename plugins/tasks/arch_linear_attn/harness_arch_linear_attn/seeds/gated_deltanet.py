"""Gated DeltaNet token mixer (Yang, Kautz and Hatamizadeh, "Gated Delta Networks: Improving
Mamba2 with Delta Rule", 2024): DeltaNet plus a data-dependent decay of the state.

Per token the state first decays, S <- exp(g) S, then takes the delta-rule write
S <- S + beta * k (v - S^T k)^T; g = -exp(A) * softplus(a(x) + dt_bias) is a per-head log
decay in the style of Mamba2, so the layer can forget quickly where the context changes.
The read-out is RMS-normalised per head and gated by SiLU of a projection of the input.
Training uses the chunkwise form: fla's Triton kernel on CUDA, fla's pure-torch reference
op (``fla/ops/gated_delta_rule/naive.py``) elsewhere.

Contract: ``TokenMixer(hidden_size, num_heads, **options)`` is an ``nn.Module`` whose
``forward(x)`` maps ``[batch, seq_len, hidden_size]`` to the same shape, causally.
Only the code between the EVOLVE-BLOCK markers is meant to change.
"""

import functools
import importlib.util
import math
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


def gated_delta_rule(q, k, v, g, beta, chunk_size=64):
    """Gated delta rule over ``[B, T, H, D]`` inputs (q, k l2-normalised); g (log decay,
    <= 0) and beta are ``[B, T, H]``.

    CUDA: fla's chunked Triton kernel. CPU: fla's naive chunkwise op, which zero-pads the
    sequence to a multiple of the chunk size at the end (later positions cannot change
    earlier outputs).
    """
    if q.is_cuda:
        from fla.ops.gated_delta_rule import chunk_gated_delta_rule

        return chunk_gated_delta_rule(q, k, v, g, beta)[0]
    naive = load_naive("gated_delta_rule")
    out, _ = naive.naive_chunk_gated_delta_rule(q, k, v, g, beta, chunk_size=chunk_size)
    return out.to(q.dtype)


# EVOLVE-BLOCK-START


class ShortConv(nn.Module):
    """Causal depthwise convolution over time (each channel sees its last ``size`` inputs)."""

    def __init__(self, channels, size=4):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, size, groups=channels, padding=size - 1)

    def forward(self, x):
        return self.conv(x.transpose(1, 2))[..., : x.shape[1]].transpose(1, 2)


class TokenMixer(nn.Module):
    """Gated DeltaNet: DeltaNet's q/k/v path, a Mamba2-style decay g, a SiLU output gate."""

    def __init__(self, hidden_size, num_heads, conv_size=4, chunk_size=64, norm_eps=1e-5):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.chunk_size = chunk_size
        self.q_proj = nn.Linear(hidden_size, hidden_size, bias=False)
        self.k_proj = nn.Linear(hidden_size, hidden_size, bias=False)
        self.v_proj = nn.Linear(hidden_size, hidden_size, bias=False)
        self.b_proj = nn.Linear(hidden_size, num_heads, bias=False)
        self.a_proj = nn.Linear(hidden_size, num_heads, bias=False)
        self.g_proj = nn.Linear(hidden_size, hidden_size, bias=False)
        # Decay rates spread over heads (A in [1, 16]) and time steps dt in [0.001, 0.1].
        self.A_log = nn.Parameter(torch.log(torch.linspace(1.0, 16.0, num_heads)))
        dt = torch.exp(torch.linspace(math.log(1e-3), math.log(1e-1), num_heads))
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt)
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
        g = -self.A_log.exp() * F.softplus(self.a_proj(x) + self.dt_bias)
        out = gated_delta_rule(q, k, v, g, beta, self.chunk_size)
        out = self.o_norm(out) * F.silu(self.g_proj(x)).view(shape)
        return self.o_proj(out.reshape(batch, length, -1))


# EVOLVE-BLOCK-END
