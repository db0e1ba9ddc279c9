"""benchmarks/gpu.sh runs end to end on the CPU with --dry-run (micro model), writing JSON and Markdown."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_script_dry_run(tmp_path: Path) -> None:
    env = {**os.environ, "OUT": str(tmp_path / "out")}
    r = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu.sh"), "--dry-run"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    res = json.loads((tmp_path / "out" / "gpu_bench.json").read_text())
    assert set(res["inference"]["sides"]) == {"64", "128"}
    assert res["inference"]["decode_tokens_per_s"] > 0
    assert {"checkpointing off", "checkpointing on"} == set(res["train"]["runs"])
    assert "flow step, 3-way CFG" in (tmp_path / "out" / "gpu_bench.md").read_text()
    assert (tmp_path / "out" / "cuda_tests.txt").is_file()
