"""`make bench` runs end to end at reduced size and writes a table with a verdict per target."""
import json
import subprocess
import sys
from pathlib import Path

from kdlib import papers

ROOT = Path(__file__).resolve().parent.parent


def test_quick_bench_writes_results(tmp_path):
    subprocess.run([sys.executable, "benchmarks/bench.py", "--quick", "--only", "1,4,8", "--out", str(tmp_path)],
                   cwd=ROOT, check=True, capture_output=True)
    text = (tmp_path / "RESULTS.md").read_text()
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert len(rows) == 2 + 2 + len(papers.ORDER) + 1  # two datasets, two ResNets, each notebook's GPU-hours, CUDA
    assert {r["pass"] for r in rows} <= {"pass", "FAIL", "n/a"} and "torch threads" in text
    assert all(r["ratio"] > 0 for r in rows[:4])
