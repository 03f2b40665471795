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


def test_stability_counts_same_verdicts_and_flips(tmp_path):
    """Three claims: one the same, one decided in one run only, one flipped between reproduced and not reproduced."""
    for run, verdicts in {"a": ["reproduced", "inconclusive", "reproduced"],
                          "b": ["reproduced", "reproduced", "not reproduced"]}.items():
        (tmp_path / run / "park2022").mkdir(parents=True)
        (tmp_path / run / "park2022" / "claims.csv").write_text(
            "id,verdict,ours\n" + "".join(f"{i},{v},effect {i}{run}\n" for i, v in enumerate(verdicts, 1)))
    done = subprocess.run([sys.executable, "benchmarks/stability.py", str(tmp_path / "a"), str(tmp_path / "b"),
                           "--out", str(tmp_path / "S.md")], cwd=ROOT, check=True, capture_output=True, text=True)
    text = (tmp_path / "S.md").read_text()
    assert "park2022: 1 of 3 verdicts the same, 1 flipped" in text
    assert "| 3 | reproduced: effect 3a | **not reproduced: effect 3b** |" in text and done.stdout == text + "\n"
