"""Layout sources: YAML (a superset of JSON) text to a document plus each node's line.

The line map lets schema errors name the line of the offending field (``layout check``).
:func:`parse_source_text` is pure; :func:`load_source` reads the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from atlas_intoto.errors import InputError, LayoutSchemaError

__all__ = ["LineMap", "load_source", "parse_source_text"]

#: Maps a JSON path (tuple of keys/indices) to the 1-based line of its YAML/JSON node.
LineMap = Mapping[tuple[str | int, ...], int]


def _yaml_loader() -> type[Any]:
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader that keeps timestamps as strings: expiry must be a plain RFC 3339 string."""

    Loader.yaml_implicit_resolvers = {
        ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return Loader


#: Most nodes a layout may expand to. YAML aliases share nodes, so a few lines can stand for
#: billions of nodes (nine levels of nine aliases: 9**9); everything downstream (line map,
#: schema validation, signing) walks the expanded tree, so it is refused here.
MAX_NODES = 100_000


class _TooManyNodes(Exception):
    pass


def _node_lines(
    node: Any,
    path: tuple[str | int, ...],
    lines: dict[tuple[str | int, ...], int],
    budget: list[int] | None = None,
) -> None:
    import yaml

    budget = budget if budget is not None else [MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooManyNodes
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            _node_lines(value_node, (*path, key), lines, budget)
            # A missing/extra property is reported at its key's line.
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _node_lines(item, (*path, index), lines, budget)


def parse_source_text(text: str, *, source: str) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    """Parse YAML (a superset of JSON) and record each node's line for error messages.

    Syntax errors are :class:`LayoutSchemaError` naming the line; input that exhausts the
    parser (deep nesting, huge integers, aliases expanding past :data:`MAX_NODES` nodes) is
    :class:`InputError` naming ``source``.
    """
    import yaml

    loader_cls = _yaml_loader()
    try:
        loader = loader_cls(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise LayoutSchemaError(f"{source}:{where}: invalid YAML/JSON: {problem}") from exc
    except RecursionError as exc:
        raise InputError(f"{source}: invalid YAML/JSON (nested too deeply)") from exc
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        raise InputError(f"{source}: invalid YAML/JSON ({exc})") from exc
    lines: dict[tuple[str | int, ...], int] = {}
    if node is not None:
        try:
            _node_lines(node, (), lines)
        except RecursionError as exc:
            raise InputError(f"{source}: invalid YAML/JSON (nested too deeply)") from exc
        except _TooManyNodes as exc:
            raise InputError(
                f"{source}: YAML aliases expand to more than {MAX_NODES} nodes "
                "(an alias bomb?); write the layout without nested aliases"
            ) from exc
    return data, lines


def load_source(path: Path) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    """Read a layout source file (YAML or JSON) with node line numbers."""
    from atlas_intoto.fileio import read_bytes

    data = read_bytes(path, what="layout source")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: layout source is not UTF-8") from exc
    return parse_source_text(text, source=str(path))
