"""What the paper profiles cost, from the runs they really execute: each notebook is executed in collect mode at the
paper profile (on stand-in data, so run ids can be formed; nothing is trained), and every collected run is costed
from its spec: trainings, epochs, images, forward MACs and GPU-hours (metrics.gpu_hours: 3 x forward FLOPs x images x
epochs, plus the teacher's forward pass and the per-epoch validation pass, on an A100 at 35% of its bf16 peak).
Epoch counts are the specs' maxima: runs that stop early cost less.

python -m kdlib.costs  writes figures/paper/cost.csv (one row per run) and cost_summary.csv (per notebook).
"""
from __future__ import annotations

import argparse
import sys
from functools import lru_cache

import pandas as pd
import torch

from . import data as kdata
from . import metrics, models, papers, report, specs

# Training-set sizes of the real datasets (the stand-ins are far smaller): CIFAR and TinyImageNet from their
# documentation, Birds-525 from the Kaggle card (84,635), ImageNet-1k train (1,281,167), Fashion-MNIST (60,000).
TRAIN_IMAGES = {"cifar10": 50_000, "cifar100": 50_000, "tinyimagenet": 100_000, "birds525": 84_635,
                "imagenet": 1_281_167, "fashion_mnist": 60_000}
TEST_IMAGES = {"cifar10": 10_000, "cifar100": 10_000, "tinyimagenet": 10_000, "birds525": 2_625,
               "imagenet": 50_000, "fashion_mnist": 10_000}


def _images(d: specs.Data) -> tuple[float, float]:
    """Training and validation images a spec's data holds on the real dataset."""
    info = kdata.info(d.name)
    classes = len(d.classes) if d.classes else info.num_classes
    available = TRAIN_IMAGES[d.name] * classes / info.num_classes
    if d.name == "birds525":  # validation is its own valid/ folder (5 images per species)
        val = 5 * classes
    elif d.val_per_class:  # held out of the whole training set
        val, available = d.val_per_class * classes, available - d.val_per_class * classes
    else:  # a fraction of the (subset of the) training set
        val = None
    train = min(available, d.train_per_class * classes) if d.train_per_class else available
    if val is None:
        val = d.val_fraction * train
        train -= val
    return train, val


@lru_cache(maxsize=256)
def _macs(model: specs.Model, data: specs.Data) -> int:
    info = kdata.info(data.name)
    classes = len(data.classes) if data.classes else info.num_classes
    size = data.image_size or info.image_size
    net = models.build(model.name, classes, info.in_channels, model.width, plan=model.plan)
    return metrics.macs(net, torch.zeros(1, info.in_channels, size, size))["macs"]


def run_cost(spec: specs.Spec) -> dict:
    """One run's training work: epochs, images per epoch, forward MACs per image (student, teacher) and GPU-hours."""
    root, owner = specs.root(spec), specs.data_owner(spec)
    train_images, val_images = _images(owner.data)
    student = _macs(root.model, owner.data) if hasattr(root, "model") else 0
    teacher, epochs = 0, 0
    if spec.stage == "train":
        epochs = spec.optim.epochs
        if spec.kd is not None:
            t = specs.root(spec.kd.teacher)
            teacher = _macs(t.model, owner.data)
        if spec.last_layer_only:  # the frozen part runs once; the head's training is negligible
            epochs, student = 1, student / 3
    elif spec.stage == "dg2pf":
        epochs = spec.settings.dgp.epochs + spec.settings.pf.epochs
        teacher = student * spec.settings.dgp.epochs / epochs
    hours = metrics.gpu_hours(student + teacher / 3, train_images, epochs) + \
        metrics.gpu_hours(student / 3, val_images, epochs)  # forward-only passes count a third of a training step
    return {"run": specs.run_id(spec), "stage": spec.stage, "model": specs.model_name(spec), "dataset": owner.data.name,
            "epochs": epochs, "train_images": train_images, "student_macs": student, "teacher_macs": teacher,
            "gpu_hours": hours}


def from_specs(cells: list[specs.Spec], notebook: str) -> pd.DataFrame:
    return pd.DataFrame([run_cost(s) for s in cells]).assign(notebook=notebook)


def collected(paper: str) -> pd.DataFrame:
    """The cost of every run `paper`'s notebook executes at the paper profile (collect mode, on stand-in data; a
    sparsity-matched student is sized from its teacher's chain pruned at initialisation: `Runner.load_for_shape`)."""
    from . import cluster
    return from_specs(cluster.collect(paper, "paper", shapes=True), paper)


def estimate(paper: str) -> pd.Series:
    """GPU-hours of `paper`'s paper profile: from the committed collected table (figures/paper/cost_summary.csv)
    when it lists the notebook, else the paper module's own component estimate (`cost(cfg)`)."""
    path = report.figures_root() / "paper" / "cost_summary.csv"
    if path.exists():
        table = pd.read_csv(path).set_index("notebook")
        if paper in table.index:
            row = table.loc[paper]
            return pd.Series({f"{int(row.trainings)} trainings, {row.gpu_hours:.1f} GPU-h (collected)": row.gpu_hours},
                             name="GPU-hours")
    module = papers.get(paper)
    return pd.Series(module.cost(module.PAPER), name="GPU-hours")


def with_dryrun_memory(summary: pd.DataFrame) -> pd.DataFrame:
    """`summary` with each notebook's peak resident memory in the dry run (figures/dryrun/runs.csv, from `make
    reproduce DRYRUN=1` or `make test-dryrun`; the paper's shapes at batch size <= the paper's), if there is one."""
    path = report.figures_root() / "dryrun" / "runs.csv"
    if not path.exists():
        return summary.assign(dryrun_peak_rss_mib=float("nan"))
    peak = pd.read_csv(path).groupby("notebook")["peak_rss_mib"].max().rename("dryrun_peak_rss_mib")
    return summary.merge(peak, left_on="notebook", right_index=True, how="left")


def write_readme(summary: pd.DataFrame) -> None:
    """The README's cost section from a cost summary (one row per notebook), with a total row."""
    from .publish import replace_section
    shown = summary.rename(columns={"gpu_hours": "A100 GPU-hours", "dryrun_peak_rss_mib": "dry-run peak RSS (MiB, CPU)"})
    total = {"notebook": "total", **shown.drop(columns="notebook").agg(
        {c: "max" if c.startswith("dry-run") else "sum" for c in shown.columns if c != "notebook"}).to_dict()}
    shown = pd.concat([shown, pd.DataFrame([total])], ignore_index=True)
    replace_section("cost", "Runs include one-shot pruning steps; trainings are the runs with epochs. A sparsity-matched "
                            "student (Park & No, the synthesis) is sized from its teacher's chain pruned at initialisation "
                            "(its real widths need the trained teacher). Memory: the peak resident memory of the notebook's "
                            "process in the dry run on CPU (the paper's shapes; figures/dryrun/runs.csv).\n\n"
                            + shown.round(1).to_markdown(index=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cost the paper profiles from the runs they execute.")
    parser.add_argument("--notebook", action="append", choices=list(papers.ORDER))
    args = parser.parse_args(argv)
    from .reproduce import prepare_dryrun
    prepare_dryrun()  # stand-in data, so that run ids (which hash the data) can be formed
    table = pd.concat([collected(p) for p in (args.notebook or papers.ORDER)], ignore_index=True)
    report.save_table(table, "paper", "", "cost")
    summary = table.assign(trains=table.epochs > 0).groupby("notebook").agg(
        runs=("run", "count"), trainings=("trains", "sum"), epochs=("epochs", "sum"), gpu_hours=("gpu_hours", "sum")).reset_index()
    summary = with_dryrun_memory(summary)
    report.save_table(summary, "paper", "", "cost_summary")
    print(summary.to_string(index=False))
    write_readme(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
