"""The reproduction report: REPORT.md, the HTML site from executed notebooks, checked in a real headless browser."""
import base64
import io
import re
import shutil
import subprocess

import nbformat
import pandas as pd
import pytest

from kdlib import claims, papers, publish, report, runs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def png() -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.setenv("KDLIB_FIGURES", str(tmp_path / "figures"))
    paper = papers.ORDER[0]
    claim = claims.Claim("1", "ours beats the control", "paper", "seed", "control", scale=100, units="points")
    report.save_claims([claims.evaluate(claim, [0.80, 0.82, 0.81, 0.83], [0.78, 0.80, 0.795, 0.81])], "cpu", paper)
    report.save_table(pd.DataFrame({"hyperparameter": ["data.name"], "paper": ["'birds525'"], "source": ["x"],
                                    "cpu": ["'fashion_mnist'"]}), "cpu", paper, "fidelity")
    report.save_table(pd.DataFrame({"item": ["Table 1"], "what": ["t"], "status": ["regenerated"], "detail": ["x"]}),
                      "cpu", paper, "coverage")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A paper\nSome prose."),
                nbformat.v4.new_code_cell("secret_code = 1", outputs=[nbformat.v4.new_output(
                    "display_data", {"image/png": png(), "text/plain": "<Figure>"})])]
    executed = runs.runs_root() / "cpu" / "notebooks" / papers.get(paper).NOTEBOOK
    executed.parent.mkdir(parents=True)
    nbformat.write(nb, executed)
    path = publish.write("cpu", {paper: 61.0}, 61.0)
    return path.parent, paper


def test_report_files_and_content(site):
    folder, paper = site
    md = (folder / "REPORT.md").read_text()
    assert "commit" in md and "GFLOP/s" in md and "reproduced" in md and "not tested at this profile" in md
    page = (folder / "report" / f"{paper}.html").read_text()
    assert "Some prose." in page and "secret_code" not in page, "prose and figures in, code hidden"
    assert "fashion_mnist" in page, "the scale of the run is shown next to the results"
    index = (folder / "report" / "index.html").read_text()
    assert f"{paper}.html" in index and "What the verdicts mean" in index


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_the_site_renders_in_a_headless_browser_with_every_image_loaded(site):
    folder, paper = site
    for page in ("index.html", f"{paper}.html"):
        dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                              "--disable-component-update", "--no-first-run", "--virtual-time-budget=3000",
                              "--dump-dom", (folder / "report" / page).as_uri()],
                             capture_output=True, text=True, timeout=120).stdout
        assert 'data-images-ok="true"' in dom, page
        cells = re.findall(r"<td[^>]*>(.*?)</td>", dom, flags=re.S)
        assert (cells or page != "index.html") and not any(c.strip().lower() == "nan" for c in cells), page
    assert 'data-images="1"' in dom, "the notebook page shows its figure"


def test_a_resumed_notebook_says_its_wall_time_is_not_cold(tmp_path, monkeypatch):
    monkeypatch.setenv("KDLIB_RUNS", str(tmp_path))
    log = tmp_path / "cpu" / "runlog" / "park2022.jsonl"
    log.parent.mkdir(parents=True)
    rows = [{"run": "a", "computed": False, "wall_seconds": 600.0}, {"run": "b", "computed": True, "wall_seconds": 60.0},
            {"run": "a", "computed": False, "wall_seconds": 600.0}]  # a run used twice counts once
    log.write_text("\n".join(__import__("json").dumps(r) for r in rows))
    assert publish.run_counts("cpu", "park2022") == {"runs": 2, "computed": 1, "compute_seconds": 660.0}
    assert publish._timing("cpu", "park2022", 75.0) == ("park2022 1m15s with 1 of 2 runs from the cache "
                                                        "(all its runs computed: 11m00s)")
    assert publish._timing("cpu", "kieu_sood", 75.0) == "kieu_sood 1m15s"  # no log: nothing to qualify
