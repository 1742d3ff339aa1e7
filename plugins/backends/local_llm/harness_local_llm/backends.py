"""Running a chat model in this process: transformers (GGUF file or model folder) or llama.cpp.

Both take chat messages and apply the model's own chat template, so a prompt means to the
model what it means behind an OpenAI-compatible server. Loading is slow (a 135M GGUF
dequantises in about 20 s on two cores), so a loaded model is kept per process and shared
by every run that asks for the same one, e.g. the jobs of a sequential multirun.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

BACKENDS = ("transformers", "llama_cpp")


@dataclass
class Generation:
    """One answer: its text, token counts and why it stopped (``stop`` or ``length``)."""

    text: str
    tokens_in: int
    tokens_out: int
    finish_reason: str


class ContextOverflowError(ValueError):
    """The prompt leaves no room to answer in the model's context window."""


class Backend(Protocol):
    name: str
    context_tokens: int

    def generate(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        top_p: float | None,
        seed: int,
    ) -> Generation: ...


def available(backend: str) -> bool:
    """Whether ``backend``'s package is installed (without importing it)."""
    module = {"transformers": "transformers", "llama_cpp": "llama_cpp"}[backend]
    return importlib.util.find_spec(module) is not None


def choose(path: Path, backend: str) -> str:
    """The back-end for ``backend="auto"``: llama.cpp for a GGUF file when it is installed
    (about three times faster on CPU), transformers otherwise."""
    if backend != "auto":
        if not available(backend):
            extra = "harness-local-llm[llama-cpp]" if backend == "llama_cpp" else backend
            raise ValueError(
                f"llm.backend={backend} needs a package that is not installed: pip install {extra}"
            )
        if backend == "llama_cpp" and not path.is_file():
            raise ValueError(f"llm.backend=llama_cpp needs a .gguf file, not the folder {path}")
        return backend
    if path.is_file() and available("llama_cpp"):
        return "llama_cpp"
    if available("transformers"):
        return "transformers"
    raise ValueError(
        "llm=local needs transformers (pip install harness-local-llm) or, for GGUF "
        "files, llama.cpp (pip install 'harness-local-llm[llama-cpp]')"
    )


def placement(device: str, dtype: str, cuda_available: bool) -> tuple[str, str]:
    """Where and in what precision the transformers back-end puts the model: ``auto`` picks
    CUDA when there is one, and bfloat16 there (half the memory, and the precision GPUs are
    fast at), float32 on the CPU (which has no fast bfloat16 matmul on most machines)."""
    if device == "auto":
        device = "cuda" if cuda_available else "cpu"
    if dtype == "auto":
        dtype = "bfloat16" if device == "cuda" else "float32"
    return device, dtype


def llama_options(
    path: Path, *, threads: int | None, context_tokens: int | None, device: str
) -> dict[str, Any]:
    """llama.cpp's constructor arguments: every layer on the GPU unless ``device`` is cpu
    (a CPU-only build ignores ``n_gpu_layers``)."""
    return {
        "model_path": str(path),
        "n_ctx": int(context_tokens or 4096),
        "n_threads": threads,
        "n_gpu_layers": 0 if device == "cpu" else -1,
        "verbose": False,
    }


_lock = threading.Lock()


@functools.lru_cache(maxsize=2)
def _load_cached(key: tuple[Any, ...]) -> Backend:
    backend, path, threads, context_tokens, dtype, device = key
    if backend == "llama_cpp":
        return LlamaCppBackend(path, threads=threads, context_tokens=context_tokens, device=device)
    return TransformersBackend(
        path, threads=threads, context_tokens=context_tokens, dtype=dtype, device=device
    )


def load(
    path: Path,
    backend: str,
    *,
    threads: int | None,
    context_tokens: int | None,
    dtype: str,
    device: str,
) -> Backend:
    """The loaded model, shared with earlier callers that asked for the same one."""
    with _lock:
        return _load_cached((backend, path, threads, context_tokens, dtype, device))


class TransformersBackend:
    """A causal LM through transformers: a GGUF file (dequantised) or a model folder."""

    name = "transformers"

    def __init__(
        self,
        path: Path,
        *,
        threads: int | None,
        context_tokens: int | None,
        dtype: str,
        device: str,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        device, dtype = placement(device, dtype, torch.cuda.is_available())
        options: dict[str, Any] = {"local_files_only": True}
        where = path
        if path.is_file():
            where, options["gguf_file"] = path.parent, path.name
        self.tokenizer = AutoTokenizer.from_pretrained(where, **options)
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(f"{path} has no chat template; llm=local needs an instruct model")
        model = AutoModelForCausalLM.from_pretrained(where, dtype=getattr(torch, dtype), **options)
        self.model = model.to(device).eval()
        self.device = device
        limit = getattr(model.config, "max_position_embeddings", None)
        self.context_tokens = int(context_tokens or limit or 2048)
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = next(iter(self.eos_ids))

    def generate(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        top_p: float | None,
        seed: int,
    ) -> Generation:
        import torch

        inputs = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self.device)
        tokens_in = int(inputs["input_ids"].shape[1])
        room = min(max_tokens, self.context_tokens - tokens_in)
        if room <= 0:
            raise ContextOverflowError(
                f"the prompt has {tokens_in} tokens and the model's context "
                f"{self.context_tokens}: lower llm.prompt_budget_chars"
            )
        sampling: dict[str, Any] = {"do_sample": False}
        if temperature > 0:
            sampling = {"do_sample": True, "temperature": temperature}
            if top_p is not None:
                sampling["top_p"] = top_p
        torch.manual_seed(seed)
        with torch.inference_mode():
            output = self.model.generate(
                **inputs, max_new_tokens=room, pad_token_id=self.pad_id, **sampling
            )
        new = output[0, tokens_in:].tolist()
        stopped = bool(new) and new[-1] in self.eos_ids
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        finish = "stop" if stopped or len(new) < room else "length"
        return Generation(text, tokens_in, len(new), finish)


class LlamaCppBackend:
    """A GGUF model through llama-cpp-python."""

    name = "llama_cpp"

    def __init__(
        self, path: Path, *, threads: int | None, context_tokens: int | None, device: str
    ) -> None:
        from llama_cpp import Llama

        self.llm = Llama(
            **llama_options(path, threads=threads, context_tokens=context_tokens, device=device)
        )
        self.context_tokens = int(self.llm.n_ctx())

    def generate(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        top_p: float | None,
        seed: int,
    ) -> Generation:
        # A prompt sharing a prefix with the last one would reuse its KV cache, which
        # changes the arithmetic and so the sampled answer: start clean for reproducibility.
        self.llm.reset()
        self.llm.set_seed(seed)
        try:
            response = self.llm.create_chat_completion(
                messages=messages,
                max_tokens=max_tokens,
                temperature=temperature,
                top_p=1.0 if top_p is None else top_p,
                seed=seed,
            )
        except ValueError as exc:
            if "exceed context window" not in str(exc):
                raise
            raise ContextOverflowError(
                f"{exc}: lower llm.prompt_budget_chars or raise llm.context_tokens"
            ) from exc
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        return Generation(
            choice["message"].get("content") or "",
            int(usage.get("prompt_tokens", 0)),
            int(usage.get("completion_tokens", 0)),
            choice.get("finish_reason") or "stop",
        )
