"""Load time and generation speed of ``llm=local`` per back-end, on this machine.

    python plugins/backends/local_llm/benchmarks/generation.py [--tokens 128] [--model PATH]

Prints, for each installed back-end, the load time and tokens per second for a short
prompt and for a researcher-sized one (about 3000 prompt tokens), greedy decoding.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from harness_local_llm.backends import available
from harness_local_llm.proposer import create

SHORT = [{"role": "user", "content": "Write a Python function that reverses a list."}]
LONG = [
    {"role": "system", "content": "You improve programs."},
    {"role": "user", "content": "def f(x):\n    return x + 1\n" * 400 + "\nImprove f."},
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--model", default=None, help="a .gguf file or model folder")
    args = parser.parse_args()
    for backend in ("transformers", "llama_cpp"):
        if not available(backend):
            print(f"{backend:12}  not installed")
            continue
        started = time.perf_counter()
        proposer = create(
            {
                "backend": backend,
                "model_path": args.model,
                "temperature": 0,
                "max_tokens": args.tokens,
                "context_tokens": 8192,
            }
        )
        load = time.perf_counter() - started
        print(f"{backend:12}  load {load:6.1f} s  ({proposer.model})")
        for label, messages in (("short", SHORT), ("long", LONG)):
            started = time.perf_counter()
            reply = asyncio.run(proposer._chat("researcher", messages))
            elapsed = time.perf_counter() - started
            call = reply.call
            print(
                f"{'':12}  {label:5} prompt {call.tokens_in:5d} tok, answer {call.tokens_out:4d} "
                f"tok in {elapsed:6.2f} s = {call.tokens_out / elapsed:6.1f} tok/s end to end"
            )


if __name__ == "__main__":
    main()
