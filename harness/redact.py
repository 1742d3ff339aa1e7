"""Secret values never leave the harness: not in what is stored, logged or sent to an LLM.

The candidate's environment never holds secrets (:func:`harness.sandbox.scrubbed_env`), and
isolation keeps it from reading the harness's own (``/proc/<pid>/environ``). This is the
second line: wherever candidate output, evaluator feedback, artifacts or prompts cross into
the run store, the log or a request, the *values* of the harness's secret-looking
environment variables are replaced by ``[REDACTED]``. It cannot catch a secret that a
candidate encoded (reversed, base64), which is why isolation is the first line.

A variable is secret-looking when its name matches :data:`SECRET_NAME`, or when it is named
in ``HARNESS_SECRET_ENV`` (comma-separated), where the run declares the variables its
configuration reads keys from (``llm.api_key_env`` may be any name).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.IGNORECASE)
EXTRA_ENV = "HARNESS_SECRET_ENV"
MASK = "[REDACTED]"
#: Shorter values ("1", "false") are settings, not secrets, and would mask ordinary text.
MIN_CHARS = 8

T = TypeVar("T")


def is_secret_name(name: str, env: Mapping[str, str] | None = None) -> bool:
    """Whether the variable ``name`` holds a secret (by its name, or declared as one)."""
    return _is_secret(name, _declared(os.environ if env is None else env))


def _declared(source: Mapping[str, str]) -> set[str]:
    """The names declared secret in ``HARNESS_SECRET_ENV``."""
    return {n.strip() for n in source.get(EXTRA_ENV, "").split(",") if n.strip()}


def _is_secret(name: str, declared: set[str]) -> bool:
    return name != EXTRA_ENV and (_secret_looking(name) or name in declared)


@functools.lru_cache(maxsize=4096)
def _secret_looking(name: str) -> bool:
    """Whether ``name`` matches :data:`SECRET_NAME` (remembered: every prompt asks again)."""
    return bool(SECRET_NAME.search(name))


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """The values to mask, longest first (so a secret containing another is masked whole).
    Read afresh on every call (the environment may change), so kept to one pass over it."""
    source = os.environ if env is None else env
    declared = _declared(source)
    values = {
        value.strip()
        for name, value in source.items()
        if _is_secret(name, declared) and len(value.strip()) >= MIN_CHARS
    }
    return sorted(values, key=len, reverse=True)


def declare(names: Iterable[str]) -> None:
    """Declare more variables as secret for this process and the workers it starts."""
    current = [n for n in os.environ.get(EXTRA_ENV, "").split(",") if n]
    merged = current + [n for n in names if n and n not in current]
    if merged:
        os.environ[EXTRA_ENV] = ",".join(merged)


def redact(text: str, values: list[str] | None = None) -> str:
    """``text`` with every secret value replaced by :data:`MASK`."""
    for value in secret_values() if values is None else values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_data(obj: T, values: list[str] | None = None) -> T:
    """Every string in a JSON-like structure (dict keys included) redacted; the rest as is."""
    secrets = secret_values() if values is None else values
    if not secrets:
        return obj
    return _walk(obj, secrets)


def _walk(obj: Any, values: list[str]) -> Any:
    if isinstance(obj, str):
        return redact(obj, values)
    if isinstance(obj, dict):
        return {_walk(k, values): _walk(v, values) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_walk(v, values) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_walk(v, values) for v in obj)
    return obj
