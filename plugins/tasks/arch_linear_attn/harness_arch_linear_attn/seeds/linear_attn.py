"""Plain causal linear attention (Katharopoulos et al., "Transformers are RNNs: Fast
Autoregressive Transformers with Linear Attention", 2020): a weaker second seed.

Keys and queries go through the feature map elu(x) + 1; the state is the running sum of
k v^T, read out with q and normalised by q . sum(k). Training uses the chunkwise form:
fla's Triton kernel on CUDA, fla's pure-torch reference op
(``fla/ops/linear_attn/naive.py``) elsewhere.

Contract: ``TokenMixer(hidden_size, num_heads, **options)`` is an ``nn.Module`` whose
``forward(x)`` maps ``[batch, seq_len, hidden_size]`` to the same shape, causally.
Only the code between the EVOLVE-BLOCK markers is meant to change.
"""

import functools
import importlib.util
import os

import torch.nn.functional as F
from torch import nn

CHUNK = 64  # the naive op's fixed chunk size


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


def linear_attention(q, k, v):
    """Normalised causal linear attention over ``[B, T, H, D]`` inputs with positive features.

    CUDA: fla's chunked Triton kernel. CPU: fla's naive chunk op, which wants T a multiple
    of 64, so the sequence is zero-padded at the end (later positions never reach earlier
    ones).
    """
    if q.is_cuda:
        from fla.ops.linear_attn import chunk_linear_attn

        return chunk_linear_attn(q, k, v, normalize=True)[0]
    naive = load_naive("linear_attn")
    length = q.shape[1]
    pad = (-length) % CHUNK
    q, k, v = (F.pad(t, (0, 0, 0, 0, 0, pad)) for t in (q, k, v))
    return naive.naive_chunk_linear_attn(q, k, v, normalize=True)[:, :length]


# EVOLVE-BLOCK-START


class TokenMixer(nn.Module):
    """Linear attention: q/k/v projections, elu + 1 features, output norm and projection."""

    def __init__(self, hidden_size, num_heads, norm_eps=1e-5):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.q_proj = nn.Linear(hidden_size, hidden_size, bias=False)
        self.k_proj = nn.Linear(hidden_size, hidden_size, bias=False)
        self.v_proj = nn.Linear(hidden_size, hidden_size, bias=False)
        self.o_norm = nn.RMSNorm(self.head_dim, eps=norm_eps)
        self.o_proj = nn.Linear(hidden_size, hidden_size, bias=False)

    def forward(self, x):
        batch, length, _ = x.shape
        shape = (batch, length, self.num_heads, self.head_dim)
        q = F.elu(self.q_proj(x).view(shape)) + 1.0
        k = F.elu(self.k_proj(x).view(shape)) + 1.0
        v = self.v_proj(x).view(shape)
        out = linear_attention(q, k, v)
        return self.o_proj(self.o_norm(out).reshape(batch, length, -1))


# EVOLVE-BLOCK-END
