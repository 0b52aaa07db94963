"""Framework adapters: one module per framework, found without importing it.

A module here that sets `FRAMEWORK = "<name>"` (the name used on the command line) and
`INSTALL = "<command>"` (printed when the framework is missing) as plain string constants, and
defines `make_adapter()`, is a framework. The constants are read from the source, so a
framework that is not installed here is still listed, with its install command. Adding a
framework is such a module plus its `expectations/<name>.yaml`.
"""
from __future__ import annotations

import ast
from pathlib import Path


def _declared(path: Path) -> tuple[str, str] | None:
    """(FRAMEWORK, INSTALL) when the module sets both at top level, else None."""
    found = {}
    for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            found[node.targets[0].id] = node.value.value
    return (found["FRAMEWORK"], found["INSTALL"]) if {"FRAMEWORK", "INSTALL"} <= set(found) else None


def _discover() -> dict[str, tuple[str, str]]:
    frameworks = {}
    for path in sorted(Path(__file__).parent.glob("*.py")):
        declared = _declared(path)
        if declared is not None:
            name, install = declared
            frameworks[name] = (f"{__name__}.{path.stem}", install)
    return frameworks


# name -> (module, install command)
FRAMEWORKS: dict[str, tuple[str, str]] = _discover()
