"""Download what the rl_algo GPU scale needs, once, into a local directory.

Candidates train in a sandbox without network (bubblewrap ``--unshare-net``) and with the
user's home hidden, so the model and the data cannot come from the hub or the hub's cache
at run time. Run this on a machine with network access:

    python plugins/tasks/rl_algo/scripts/prepare_gpu.py --out /data/rl_algo

It writes ``model/`` (a snapshot of the ``gpu`` scale's ``model``, safetensors only),
``train.jsonl`` and ``eval/<set>.jsonl`` (rows ``{"question", "answer"}``) from the datasets
named in ``conf/task/rl_algo/scale/gpu.yaml``; then run with
``task/rl_algo/scale=gpu task.data_dir=/data/rl_algo``.
"""

from __future__ import annotations

import argparse
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

MODEL_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "tokenizer*"]


def rows(records: Any, question: str, answer: str) -> list[dict[str, str]]:
    """``{"question", "answer"}`` rows from dataset records; a list answer (OlympiadBench's
    ``final_answer``) gives its first element, and rows without an answer are dropped."""
    out = []
    for record in records:
        value = record[answer]
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None or str(value).strip() == "":
            continue
        out.append({"question": str(record[question]), "answer": str(value).strip()})
    return out


def write_jsonl(path: Path, data: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for row in data:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def export(spec: dict[str, Any], path: Path) -> int:
    from datasets import load_dataset

    data = load_dataset(spec["path"], spec.get("name"), split=spec["split"])
    converted = rows(data, spec["question"], spec["answer"])
    write_jsonl(path, converted)
    return len(converted)


def main() -> None:
    conf = files("harness_rl_algo") / "conf" / "task" / "rl_algo" / "scale" / "gpu.yaml"
    gpu = yaml.safe_load(conf.read_text(encoding="utf-8"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", default=gpu["model"], help="hub name of the base model")
    args = parser.parse_args()
    from huggingface_hub import snapshot_download

    snapshot_download(args.model, local_dir=args.out / "model", allow_patterns=MODEL_FILES)
    counts = {"train": export(gpu["train_dataset"], args.out / "train.jsonl")}
    for name, spec in gpu["eval_sets"].items():
        counts[name] = export(spec, args.out / "eval" / f"{name}.jsonl")
    print(json.dumps({"out": str(args.out), "model": args.model, "rows": counts}, indent=2))


if __name__ == "__main__":
    main()
