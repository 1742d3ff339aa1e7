"""The user-facing promises for the circle_packing plugin, through the real CLI."""

from __future__ import annotations

import json

from harness import db as store
from harness.testing.llm_server import FakeLLMServer

GRID = """import numpy as np

def construct_packing(n):
    # 26 circles of radius 1/16 on an 8 x 4 grid: neighbours touch exactly.
    centers = [((2 * i + 1) / 16, (2 * j + 1) / 16) for j in range(4) for i in range(8)][:n]
    centers = np.array(centers)
    radii = np.full(n, 1 / 16)
    {tweak}
    return centers, radii
"""


def _eval(cli, tmp_path, tweak):
    program = tmp_path / "packing.py"
    program.write_text(GRID.format(tweak=tweak))
    result = cli("eval", "+task=circle_packing", "--program", str(program), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_eval_rejects_a_1e9_overlap_and_accepts_it_shrunk(tmp_path, cli):
    touching = _eval(cli, tmp_path, "pass")
    assert touching["success"] and touching["score"] == 26 / 16

    overlap = _eval(cli, tmp_path, "centers[1, 0] -= 1e-9")
    assert not overlap["success"] and overlap["score"] is None
    assert overlap["metrics"]["worst_violation"] > 0

    shrunk = _eval(cli, tmp_path, "centers[1, 0] -= 1e-9; radii *= 1 - 1e-8")
    assert shrunk["success"] and 0 < 26 / 16 - shrunk["score"] < 1e-6


def test_offline_run_improves_the_naive_seed(tmp_path, cli):
    run_dir = tmp_path / "run"
    result = cli(
        "run",
        "+task=circle_packing",
        "run.max_evaluations=30",
        "run.workers=2",
        f"hydra.run.dir={run_dir}",
    )
    assert result.returncode == 0, result.stderr
    status = json.loads(cli("status", str(run_dir), "--json").stdout)
    assert status["evaluated"] == 30
    assert status["best_score"] > status["seed_score"] > 0.9
    assert status["best_known"] == 2.635983


def test_llm_openai_run_on_circle_packing(tmp_path, cli):
    diff = (
        "<name>wider-inner-ring</name><motivation>Spread the inner ring.</motivation>\n"
        "<<<<<<< SEARCH\n"
        "        centers.append((0.5 + 0.3 * math.cos(angle), 0.5 + 0.3 * math.sin(angle)))\n"
        "=======\n"
        "        centers.append((0.5 + 0.32 * math.cos(angle), 0.5 + 0.32 * math.sin(angle)))\n"
        ">>>>>>> REPLACE\n"
    )
    analysis = "<analysis>The inner ring moved out.</analysis>"
    with FakeLLMServer(default=analysis) as server:
        server.enqueue(analysis, diff)  # the seed's analysis comes first
        run_dir = tmp_path / "run"
        result = cli(
            "run",
            "+task=circle_packing",
            "llm=openai",
            f"llm.base_url={server.base_url}",
            "llm.model=M",
            "run.max_rounds=1",
            "run.workers=1",
            f"hydra.run.dir={run_dir}",
        )
        assert result.returncode == 0, result.stderr
    node = store.get_node(store.open_db(run_dir), 1)
    assert node["name"] == "wider-inner-ring" and node["edit"] == "diff"
    assert node["status"] == "evaluated" and node["score"] > 0
    assert "0.32 * math.cos" in node["program"]
    assert node["analysis"] == "The inner ring moved out."
