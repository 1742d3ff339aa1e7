"""The schemas of the ``llm`` config group: the built-in proposer back-ends.

Registered as ``harness_schema/llm/<name>`` (harness/default_plugins/proposers.py), so a
misspelled key or a wrong type fails when Hydra composes the config, before a back-end is
built from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class EnsemblePolicy(str, Enum):
    """How ``llm.ensemble`` picks the researcher model of a round (and ``llm.operator_policy``
    its operator and prompt variant)."""

    weights = "weights"
    bandit = "bandit"


@dataclass
class OfflineLLMConf:
    name: str = "offline"
    scale: float = 0.1
    max_changes: int = 3
    int_weight: float = 0.2
    recombine_prob: float = 0.2
    # Search operators (docs/operators.md): diff and full mutate, crossover recombines.
    operators: list[str] | None = None
    operator_policy: EnsemblePolicy = EnsemblePolicy.weights
    operator_weights: list[float] = field(default_factory=list)


class TokensParam(str, Enum):
    max_tokens = "max_tokens"
    max_completion_tokens = "max_completion_tokens"


class EditMode(str, Enum):
    diff = "diff"
    full = "full"


class LLMMode(str, Enum):
    """How the researcher works: one answer per round (``chat``), or a tool-using episode
    over the candidate's files (``agent``, harness/llm/agent.py)."""

    chat = "chat"
    agent = "agent"


@dataclass
class AgentConf:
    """``llm.agent``: the budget of one ``llm.mode=agent`` episode. ``max_steps``: requests
    (tool-call rounds); ``max_tokens``: their usage summed (prompt and completion)."""

    max_steps: int = 20
    max_tokens: int = 200_000


@dataclass
class OpenAILLMConf:
    name: str = "openai"
    base_url: str | None = None
    model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float | None = 0.7
    top_p: float | None = None
    max_tokens: int | None = 4096
    max_tokens_param: TokensParam = TokensParam.max_tokens
    reasoning_effort: str | None = None
    seed: int | None = None
    omit_params: list[str] = field(default_factory=list)
    timeout_s: float = 120.0
    max_retries: int = 2
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    max_call_s: float = 600.0
    edit_mode: EditMode = EditMode.diff
    mode: LLMMode = LLMMode.chat
    agent: AgentConf = field(default_factory=AgentConf)
    max_code_chars: int = 100_000
    prompt_budget_chars: int = 60_000
    extra_body: dict[str, Any] = field(default_factory=dict)
    usd_per_mtok_in: float | None = None
    usd_per_mtok_out: float | None = None
    prompts_dir: str | None = None
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The researcher as several models: each member is a dict of llm settings (usually
    # model and prices) plus an optional weight; see harness/llm/ensemble.py.
    ensemble: list[dict[str, Any]] = field(default_factory=list)
    ensemble_policy: EnsemblePolicy = EnsemblePolicy.weights
    # Search operators and system-prompt variants drawn per round (docs/operators.md):
    # operators=null keeps edit_mode; operator_weights: one per operator (empty: all 1);
    # variants are {name, text or template, weight}.
    operators: list[str] | None = None
    operator_policy: EnsemblePolicy = EnsemblePolicy.weights
    operator_weights: list[float] = field(default_factory=list)
    system_variants: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ReplayLLMConf:
    """``llm=replay``: answer from the run recorded in ``source`` (a run directory)."""

    name: str = "replay"
    source: str | None = None
