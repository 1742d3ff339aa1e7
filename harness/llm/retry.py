"""The one retry policy for LLM endpoints (the SDK's own retries are off, so none stack).

An endpoint failure (connection, timeout, 408/409/429, 5xx) is retried with exponential
backoff, or after the server's ``Retry-After``, never past a time cap per call; any other
failure (a refused request, a malformed answer) is not, since asking again cannot fix it.
"""

from __future__ import annotations

import contextlib
import email.utils
import time

import openai
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
)

from harness.llm import http


def retryable(exc: BaseException) -> bool:
    """Whether the endpoint, not the request, failed: worth trying again later."""
    if isinstance(exc, openai.APIStatusError | http.StatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    # Timeouts included: the SDK's APITimeoutError is an APIConnectionError.
    return isinstance(exc, openai.APIConnectionError | http.EndpointTimeout | http.Unreachable)


def retry_after(exc: BaseException | None) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` or ``retry-after``)."""
    response = getattr(exc, "response", None)  # the SDK's errors carry the response
    headers = getattr(exc, "headers", None) or getattr(response, "headers", None)
    if headers is None:
        return None
    with contextlib.suppress(TypeError, ValueError):
        if headers.get("retry-after-ms") is not None:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    return None


class _ServerOrBackoff:
    """The wait before the next attempt: the server's ``Retry-After``, else ``backoff_s``
    doubled per attempt up to ``max_backoff_s``."""

    def __init__(self, backoff_s: float, max_backoff_s: float) -> None:
        self.backoff = wait_exponential(multiplier=backoff_s, max=max_backoff_s)

    def __call__(self, state: RetryCallState) -> float:
        asked = None if state.outcome is None else retry_after(state.outcome.exception())
        return self.backoff(state) if asked is None else asked


def policy(
    max_retries: int, backoff_s: float, max_backoff_s: float, max_call_s: float
) -> AsyncRetrying:
    """Up to ``max_retries`` retries of :func:`retryable` failures, none whose wait would
    reach ``max_call_s`` since the first attempt; the last failure is re-raised."""
    return AsyncRetrying(
        retry=retry_if_exception(retryable),
        stop=stop_after_attempt(max_retries + 1) | stop_before_delay(max_call_s),
        wait=_ServerOrBackoff(backoff_s, max_backoff_s),
        reraise=True,
    )


def stopped_early(state: RetryCallState, max_retries: int, max_call_s: float) -> str | None:
    """Why a retryable failure was not retried although attempts were left (the time cap),
    for the call's error; ``None`` when the attempts were used up."""
    if state.attempt_number > max_retries:
        return None
    return (
        f"not retried: waiting {state.upcoming_sleep:g} s more would pass "
        f"llm.max_call_s={max_call_s:g}"
    )
