"""The one YAML reader for specs and expectation files: safe, and without aliases.

Specs and expectations are data written out in full. An alias (`*name`) would let a few hundred
bytes stand for a billion nodes (the "billion laughs" bomb) once anything walks the tree, so the
reader refuses the first alias, naming its line.
"""
from __future__ import annotations

from typing import Any

import yaml


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):  # noqa: ANN001 - PyYAML's signature
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"YAML aliases (*{event.anchor}) are not allowed here: write the value out",
                event.start_mark)
        return super().compose_node(parent, index)


def load_yaml(text: str) -> Any:
    """Parse one YAML document (raises yaml.YAMLError, with a mark, on bad input or an alias)."""
    return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass


def describe_yaml_error(exc: yaml.YAMLError) -> str:
    """'invalid YAML at line L, column C: problem' (or without the position where PyYAML has none)."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"invalid YAML{where}: {problem}"
