"""The layers of the package import only from layers to their left:
ops -> cells -> layers -> models -> data -> training -> tasks -> export -> serve -> cli."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "rnnkit"
ORDER = ["ops", "cells", "layers", "models", "data", "training", "tasks", "export", "serve", "cli"]


def _part(module: str) -> str | None:
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 and pieces[0] == "rnnkit" and pieces[1] in ORDER else None


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_one_way(path):
    relative = path.relative_to(PACKAGE)
    own = relative.parts[0].removesuffix(".py")
    if own not in ORDER:  # __init__.py and __main__.py of the package itself may import anything
        return
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            part = _part(name)
            if part is not None:
                assert ORDER.index(part) <= ORDER.index(own), f"{relative} imports {name}: {part} is right of {own}"
            if own != "cli":  # the top-level package re-exports everything: only the command sits above it
                assert name != "rnnkit", f"{relative} imports the top-level package; import from its parts"
