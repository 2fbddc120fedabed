"""Modules import only from their own layer or below (STYLE.md): the core never imports widgets."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "labkit"
# Lowest first. A module may import labkit modules of its own layer or a lower one.
LAYERS = [
    {"validate", "io", "progress", "kernel", "zygote"},
    {"data", "models", "optim", "metrics", "bench", "noise", "runtime", "scale"},
    {"train", "checkpoint"},
    {"compress", "export", "landscapes", "crossval"},
    {"sweep", "search", "records", "serve", "loadtest", "monitor", "distributed"},
    {"ui", "plots", "figures", "cli", "exercises"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def _labkit_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("labkit"):
            parts = node.module.split(".")
            names.add(parts[1] if len(parts) > 1 else node.names[0].name)
        elif isinstance(node, ast.Import):
            names |= {a.name.split(".")[1] for a in node.names if a.name.startswith("labkit.")}
    return names


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_module_imports_only_its_layer_or_below(path):
    name = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    assert name in LAYER, f"add labkit/{path.name} to a layer in this test and STYLE.md"
    above = {m for m in _labkit_imports(path) if LAYER[m] > LAYER[name]}
    assert not above, f"labkit.{name} imports {sorted(above)} from a higher layer"


def test_the_check_sees_imports():
    assert {"checkpoint", "data", "optim", "validate"} <= _labkit_imports(PACKAGE / "train.py")
    assert {"optim", "validate"} <= _labkit_imports(PACKAGE / "ui.py")
