"""OpenEvolve's side of ``benchmarks/vs_openevolve.py``, run with OpenEvolve's own interpreter.

Builds the controller as ``openevolve-run`` does (``OpenEvolve(...).run(iterations=N)``) from
``config.yaml`` next to this file, with the stub's URL, the iteration count and the worker
count filled in, and writes when the seed and each child were added to the program database
(wall-clock epoch seconds, taken in the controller process as harness's ``evaluated_at`` is),
so both systems are timed the same way. Only the database's ``add`` is wrapped; nothing else
of OpenEvolve is changed.

    python run_openevolve.py --api-base URL --iterations N --workers W --output-dir DIR --times OUT
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-base", required=True)
    parser.add_argument("--iterations", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--times", required=True)
    args = parser.parse_args()

    import openevolve
    from openevolve.config import Config
    from openevolve.controller import OpenEvolve

    data = yaml.safe_load((HERE / "config.yaml").read_text())
    data["llm"]["api_base"] = args.api_base
    data["max_iterations"] = args.iterations
    data["evaluator"]["parallel_evaluations"] = args.workers
    controller = OpenEvolve(
        str(HERE / "initial_program.py"),
        str(HERE / "evaluator.py"),
        Config.from_dict(data),
        output_dir=args.output_dir,
    )
    seed: list[float] = []
    children: list[float] = []
    add = controller.database.add

    def timed_add(program: Any, *rest: Any, **options: Any) -> Any:
        admitted = add(program, *rest, **options)
        # The controller passes ``iteration`` for a child; migrations pass none.
        if "iteration" in options:
            children.append(time.time())
        elif not seed:
            seed.append(time.time())
        return admitted

    controller.database.add = timed_add
    asyncio.run(controller.run(iterations=args.iterations))
    Path(args.times).write_text(
        json.dumps({"version": openevolve.__version__, "seed": seed[0], "children": children})
    )


if __name__ == "__main__":
    main()
