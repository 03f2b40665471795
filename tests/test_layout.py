"""The shape of kdlib: modules of a few hundred lines, imports that only point down the layers, no cycles."""
import ast
from pathlib import Path

KDLIB = Path(__file__).resolve().parent.parent / "kdlib"
# Lower layers never import higher ones. Generic layers (0-6) never name a paper.
LAYERS = [
    {"files", "device", "formats", "batches", "architectures", "stats"},               # foundations
    {"models"},
    {"data", "train", "prune", "distill"},                                                 # data, training, methods
    {"fingerprint", "obtain", "last_layer", "metrics", "students", "synflow", "dg2pf", "quantize", "claims", "deploy"},
    {"specs", "runs"},                                                                     # run specs and their cache
    {"stages"},                                                                            # what each stage computes
    {"runner"},                                                                            # runs specs on a device
    {"profiles", "report", "plots"},                                                       # configs and results out
    {"papers"} | {f"papers.{p}{suffix}" for p in ("park2022", "kieu_sood", "malihi2024", "fontana2024", "synthesis")
                  for suffix in ("", "_claims", "_plots")},
    {"costs", "reproduce", "cluster", "standins", "params", "publish", "eta"},                                       # tools
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}
PAPER_NAMES = ("park", "kieu", "malihi", "fontana", "birds525")


def modules() -> dict[str, Path]:
    return {p.relative_to(KDLIB).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__"): p
            for p in KDLIB.rglob("*.py") if p.name != "__init__.py" or p.parent != KDLIB}


def imports(path: Path, name: str) -> set[str]:
    """kdlib modules `path` imports (lazy ones inside functions too; TYPE_CHECKING blocks excluded)."""
    tree, found = ast.parse(path.read_text()), set()
    package = name.rsplit(".", 1)[0] if "." in name else ""
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in skip or not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        base = package.split(".")[: len(package.split(".")) - (node.level - 1)] if package else []
        base = ".".join(base + ([node.module] if node.module else [])).strip(".")
        for alias in node.names:
            full = f"{base}.{alias.name}".strip(".") if not node.module else base
            if not node.module and f"{base}.{alias.name}".strip(".") in LAYER:
                full = f"{base}.{alias.name}".strip(".")
            found.add(full)
    return {m for m in found if m in LAYER and m != name}


def test_every_module_is_placed_in_a_layer():
    assert sorted(set(modules()) - set(LAYER)) == [], "add new modules to LAYERS"


def test_no_upward_imports_and_no_cycles():
    graph = {name: imports(path, name) for name, path in modules().items()}
    upward = [(a, b) for a, deps in graph.items() for b in deps if LAYER[b] > LAYER[a]]
    assert upward == []
    seen, stack = set(), set()

    def visit(node, trail):
        assert node not in stack, f"import cycle: {' -> '.join(trail + [node])}"
        if node in seen:
            return
        stack.add(node)
        for dep in graph[node]:
            visit(dep, trail + [node])
        stack.discard(node)
        seen.add(node)
    for node in graph:
        visit(node, [])


def test_modules_are_a_few_hundred_lines_at_most():
    long = {name: n for name, p in modules().items() if (n := len(p.read_text().splitlines())) > 340}
    assert long == {}


def test_generic_layers_name_no_paper():
    for name, path in modules().items():
        if LAYER[name] <= LAYER["plots"]:
            code = "\n".join(l for l in path.read_text().lower().splitlines() if not l.strip().startswith("#"))
            assert not any(f"import {p}" in code or f"papers.{p}" in code for p in PAPER_NAMES), name
