"""Zero-shot benchmarks through lm-eval, with the trained candidate as the model.

lm-eval runs here, in the evaluator: it loads the tasks (and their datasets, which may
download), builds the requests and computes every metric. The model behind its ``LM``
interface is the candidate's trained proxy, which only runs in the sandbox; this adapter
hands it token rows and gets back, for each continuation token, three numbers: the
token's logit, the log-sum-exp over the vocabulary, and the largest logit
(``driver.proxy_loglik``). The answers stay here, so the candidate cannot raise a
multiple-choice accuracy without ranking the right choice higher; greedy-match metrics
(LAMBADA's accuracy) do rest on its report of the largest logit.

Only ``loglikelihood`` requests are served: every multiple-choice task and LAMBADA.
Rolling perplexity (wikitext) and generation tasks are refused with a clear error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from lm_eval.api.model import LM

from harness_arch_linear_attn.corpus import Tokenizer

ScoreRows = Callable[[list[list[int]], list[list[int]]], np.ndarray]
"""``(input rows, continuation ids) -> (continuation tokens, 3)``: logit, log-sum-exp, max."""


class SandboxedProxyLM(LM):
    """lm-eval's model interface over token rows scored by ``score_rows``."""

    def __init__(self, tok: Tokenizer, max_length: int, score_rows: ScoreRows) -> None:
        super().__init__()
        self.tok, self.max_length, self.score_rows = tok, max_length, score_rows

    def loglikelihood(self, requests: Sequence[Any]) -> list[tuple[float, bool]]:
        rows, targets = [], []
        for request in requests:
            context, continuation = request.args
            target = (self.tok.encode(continuation) or [self.tok.end])[-self.max_length :]
            ids = [self.tok.end, *self.tok.encode(context), *target]
            rows.append(ids[:-1][-self.max_length :])
            targets.append(target)
        summary = self.score_rows(rows, targets)
        total = sum(len(t) for t in targets)
        if summary.shape != (total, 3) or not np.isfinite(summary).all():
            raise ValueError(f"malformed log-likelihood summary of shape {summary.shape}")
        results, start = [], 0
        for length in (len(t) for t in targets):
            logit, lse, top = summary[start : start + length].T
            results.append((float((logit - lse).sum()), bool((logit >= top).all())))
            start += length
        return results

    def loglikelihood_rolling(self, requests: Sequence[Any]) -> list[float]:
        raise NotImplementedError(
            "rolling perplexity tasks (wikitext, ...) are not supported; use multiple-choice "
            "tasks or lambada_openai"
        )

    def generate_until(self, requests: Sequence[Any]) -> list[str]:
        raise NotImplementedError("generation tasks are not supported for the proxy model")


def evaluate(
    tasks: list[str],
    model: SandboxedProxyLM,
    limit: int | None = None,
    include_path: str | None = None,
) -> dict[str, float]:
    """``{"<task>_<metric>": value}`` for each task's accuracies (``acc``, ``acc_norm``)."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    results = simple_evaluate(
        model=model,
        tasks=tasks,
        limit=limit,
        task_manager=TaskManager(include_path=include_path),
        log_samples=False,
        bootstrap_iters=0,
    )
    if results is None:
        raise RuntimeError("lm-eval returned no results")
    metrics = {}
    for task, values in results["results"].items():
        for key, value in values.items():
            name = key.split(",")[0]
            if name in ("acc", "acc_norm") and isinstance(value, (int, float)):
                metrics[f"{task}_{name}"] = float(value)
    return metrics
