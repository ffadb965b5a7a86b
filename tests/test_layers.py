"""The package's layers: a module never imports one from a layer above its own."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "condgan"
# lowest first; models may use data's label helpers, data never imports models
RANK = {"errors": 0, "nets": 1, "data": 2, "models": 2.5, "utils": 3, "metrics": 3, "callbacks": 4, "pipelines": 5}
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE)


def imported_layers(path: Path) -> set[str]:
    """The condgan sub-packages a module imports from."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return {name.split(".")[1] for name in names if name.startswith("condgan.")}


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_no_module_imports_a_layer_above_its_own(path):
    layer = path.relative_to(PACKAGE).parts[0]
    for imported in imported_layers(path):
        assert RANK[imported] <= RANK[layer], f"condgan/{layer} imports condgan/{imported}, a layer above it"
