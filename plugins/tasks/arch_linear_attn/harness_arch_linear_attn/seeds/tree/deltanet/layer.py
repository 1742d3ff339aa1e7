"""DeltaNet token mixer (Yang et al., 2024), the layer of the multi-file seed: it imports
its kernel from ``ops.py`` and its defaults from ``config.py``.

Contract: ``TokenMixer(hidden_size, num_heads, **options)`` is an ``nn.Module`` whose
``forward(x)`` maps ``[batch, seq_len, hidden_size]`` to the same shape, causally.
"""

import config
import torch
import torch.nn.functional as F
from ops import delta_rule
from torch import nn


class ShortConv(nn.Module):
    """Causal depthwise convolution over time (each channel sees its last ``size`` inputs)."""

    def __init__(self, channels, size=config.CONV_SIZE):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, size, groups=channels, padding=size - 1)

    def forward(self, x):
        return self.conv(x.transpose(1, 2))[..., : x.shape[1]].transpose(1, 2)


class TokenMixer(nn.Module):
    """DeltaNet: projections, short convolutions, SiLU, l2-normalised q/k, sigmoid beta."""

    def __init__(
        self,
        hidden_size,
        num_heads,
        conv_size=config.CONV_SIZE,
        chunk_size=config.CHUNK_SIZE,
        norm_eps=config.NORM_EPS,
    ):
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
