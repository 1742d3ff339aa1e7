"""The delta-rule kernels the layer calls (read-only context): fla's chunked Triton kernel on
CUDA, fla's pure-torch reference op elsewhere. The same code as the one-file seed's
preamble (``seeds/deltanet.py``)."""

import functools
import importlib.util
import os

import torch.nn.functional as F


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
