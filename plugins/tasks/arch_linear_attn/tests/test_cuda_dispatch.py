"""The CPU-checkable part of the seeds' CUDA branch (``if q.is_cuda``: fla's Triton kernels).

No GPU runs here, and fla's kernels need Triton. The tests call each seed's layer with inputs
that say they are on CUDA. The kernel the seed imports is replaced by a stand-in with the real
kernel's signature, which is parsed from the installed fla's source. The stand-in computes what
the kernel documents with fla's step-by-step reference, a different algorithm from the CPU
path's chunkwise op.

The CUDA branch must give the CPU branch's output. This checks:
- the arguments' order and names against the real kernel;
- the ``[B, T, H, D]`` layout and the default scale;
- taking the output out of the kernel's ``(o, final_state)``.

The kernels themselves are compared with the CPU path by ``scripts/gpu_check.py`` on a GPU.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from harness.tree import Tree
from torch import nn

from harness_arch_linear_attn import plugin

TASK = plugin.TASK
FLA = Path(str(getattr(importlib.util.find_spec("fla"), "origin", ""))).parent


class ClaimsCuda(torch.Tensor):
    """A CPU tensor whose ``is_cuda`` is True: it takes a seed down its CUDA branch."""

    @property
    def is_cuda(self) -> bool:  # type: ignore[override]
        return True


def real_signature(family: str, name: str) -> inspect.Signature:
    """The signature of ``fla.ops.<family>.<name>`` as its installed source declares it
    (importing it would need Triton)."""
    source = (FLA / "ops" / family / "chunk.py").read_text()
    (function,) = (
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef) and node.name == name
    )
    args = function.args
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [
        inspect.Parameter(
            arg.arg,
            kind,
            default=inspect.Parameter.empty if default is None else ast.literal_eval(default),
        )
        for arg, default in zip(positional, defaults, strict=True)
    ]
    params += [
        inspect.Parameter(
            arg.arg,
            inspect.Parameter.KEYWORD_ONLY,
            default=inspect.Parameter.empty if default is None else ast.literal_eval(default),
        )
        for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True)
    ]
    if args.kwarg is not None:
        params.append(inspect.Parameter(args.kwarg.arg, inspect.Parameter.VAR_KEYWORD))
    return inspect.Signature(params)


@functools.cache
def naive(family: str) -> types.ModuleType:
    """fla's pure-torch reference module for ``family``, loaded without its package (once)."""
    path = FLA / "ops" / family / "naive.py"
    spec = importlib.util.spec_from_file_location(f"reference_{family}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def plain(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.as_subclass(torch.Tensor)


class Kernel:
    """A stand-in for one of fla's chunk kernels: binds each call to the real signature and
    computes the documented result with the step-by-step reference."""

    #: parameters the stand-in models; any other one must keep the real default
    MODELLED = {"q", "k", "v", "g", "beta", "scale", "normalize"}

    def __init__(self, family: str, name: str, reference: Callable[..., torch.Tensor]) -> None:
        self.signature = real_signature(family, name)
        self.reference = reference
        self.calls: list[inspect.BoundArguments] = []

    def __call__(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, None]:
        bound = self.signature.bind(*args, **kwargs)  # TypeError on a call the kernel refuses
        self.calls.append(bound)
        extra = bound.arguments.get("kwargs", {})
        assert not extra, f"arguments the kernel does not declare: {sorted(extra)}"
        for name, parameter in self.signature.parameters.items():
            if name not in self.MODELLED and parameter.kind != parameter.VAR_KEYWORD:
                assert name not in bound.arguments, f"{name} is not modelled by this stand-in"
        bound.apply_defaults()
        given = {k: v for k, v in bound.arguments.items() if k in self.MODELLED}
        tensors = {k: plain(v) if isinstance(v, torch.Tensor) else v for k, v in given.items()}
        for key in ("q", "k", "v"):  # the kernels' documented layout: [B, T, H, D]
            assert tensors[key].ndim == 4, (key, tensors[key].shape)
        return self.reference(**tensors), None


def delta_rule(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor, scale: float | None
) -> torch.Tensor:
    """chunk_delta_rule's result: the recurrence wants ``[B, H, T, D]`` and scales q by
    ``D ** -0.5`` itself."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    q = q * scale / q.shape[-1] ** -0.5
    o, _ = naive("delta_rule").delta_rule_recurrence(*(t.transpose(1, 2) for t in (q, k, v, beta)))
    return o.transpose(1, 2)


def gated_delta_rule(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    g: torch.Tensor,
    beta: torch.Tensor,
    scale: float | None,
) -> torch.Tensor:
    o, _ = naive("gated_delta_rule").naive_recurrent_gated_delta_rule(
        q, k, v, beta=beta, g=g, scale=scale
    )
    return o


def linear_attn(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float | None, normalize: bool
) -> torch.Tensor:
    o, _ = naive("linear_attn").naive_recurrent_linear_attn(
        q, k, v, scale=scale, normalize=normalize
    )
    return o


#: seed -> (the module its CUDA branch imports, the kernel's name, its result)
KERNELS: dict[str, tuple[str, str, Callable[..., torch.Tensor]]] = {
    "deltanet": ("delta_rule", "chunk_delta_rule", delta_rule),
    "gated_deltanet": ("gated_delta_rule", "chunk_gated_delta_rule", gated_delta_rule),
    "linear_attn": ("linear_attn", "chunk_linear_attn", linear_attn),
}


def install(monkeypatch: pytest.MonkeyPatch, seed: str) -> Kernel:
    family, name, reference = KERNELS[seed]
    kernel = Kernel(family, name, reference)
    module = types.ModuleType(f"fla.ops.{family}")
    setattr(module, name, kernel)
    monkeypatch.setitem(sys.modules, f"fla.ops.{family}", module)
    return kernel


def mixer_of(source: str, name: str) -> nn.Module:
    namespace: dict[str, Any] = {"__name__": f"seed_{name}"}
    exec(compile(source, name, "exec"), namespace)
    torch.manual_seed(0)
    return namespace["TokenMixer"](64, 2)


def tree_mixer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> nn.Module:
    """The tree seed's layer, its files written out and imported as the sandbox imports them."""
    Tree.parse(TASK.tree_seed("deltanet")).write(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for module in ("ops", "config"):  # imported afresh from tmp_path, and forgotten after
        monkeypatch.setitem(sys.modules, module, None)
        monkeypatch.delitem(sys.modules, module)
    return mixer_of((tmp_path / "layer.py").read_text(), "layer.py")


@pytest.mark.parametrize("seed", [*KERNELS, "tree:deltanet"])
def test_the_cuda_branch_calls_the_kernel_as_fla_declares_it(
    seed: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if seed == "tree:deltanet":
        mixer, kernel = tree_mixer(monkeypatch, tmp_path), install(monkeypatch, "deltanet")
    else:
        mixer, kernel = mixer_of(TASK.seed_source(seed), seed), install(monkeypatch, seed)
    x = torch.randn(2, 50, 64)  # 50: not a multiple of the CPU path's chunk
    with torch.no_grad():
        on_cpu = mixer(x)
        assert not kernel.calls, "the CPU branch called the CUDA kernel"
        on_cuda = mixer(x.as_subclass(ClaimsCuda))
    assert len(kernel.calls) == 1, "the CUDA branch did not call fla's kernel"
    torch.testing.assert_close(plain(on_cuda), on_cpu, atol=1e-5, rtol=1e-4)


def test_the_stand_in_refuses_a_call_the_real_kernel_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What makes the test above able to fail on a signature mismatch."""
    kernel = install(monkeypatch, "gated_deltanet")
    q = torch.randn(1, 4, 1, 8)
    with pytest.raises(TypeError):  # beta missing
        kernel(q, q, q, q[..., 0])
    with pytest.raises(AssertionError, match="not declare.*head_first"):
        kernel(q, q, q, q[..., 0], q[..., 0], head_first=True)
    assert "g" in kernel.signature.parameters and "beta" in kernel.signature.parameters
