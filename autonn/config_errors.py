"""Config validation errors as a person reads them: 'file:line: field: problem', with the
valid keys or choices, one line per invalid field, in file order."""

from __future__ import annotations

import typing
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from autonn.errors import did_you_mean


def describe(exc: ValidationError, root: type[BaseModel], source: str,
             lines: dict[tuple, int]) -> str:
    """Every invalid field of ``root`` as 'file:line: field: problem', one per line, in file
    order."""
    groups: dict[tuple, list[dict]] = {}
    for err in exc.errors():  # a union's branches each report a field: one group per field
        groups.setdefault(_field_loc(err), []).append(err)
    found = [_one(errs, loc, root, source, lines) for loc, errs in _outermost(groups).items()]
    return "\n".join(text for _, text in sorted(found, key=lambda f: f[0]))


def _outermost(groups: dict[tuple, list[dict]]) -> dict[tuple, list[dict]]:
    """Fields whose errors are not about a part of another reported field (a union's inner
    branches report deeper paths of one field)."""
    return {loc: errs for loc, errs in groups.items()
            if not any(other != loc and loc[:len(other)] == other and len(other) > 0
                       and any(e["type"] == "value_error" for e in groups[other])
                       for other in groups)}


def _one(errors: list[dict], loc: tuple, root: type[BaseModel], source: str,
         lines: dict[tuple, int]) -> tuple[int, str]:
    """(its line, the message) for one invalid field; our own explanation wins over a union's
    type errors."""
    err = next((e for e in errors if e["type"] == "value_error"),
               max(errors, key=lambda e: e["type"] == "extra_forbidden"))
    field = ".".join(str(p) for p in loc) or "(top level)"
    line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), 0)
    where = f"{source}:{line}" if line else source
    if err["type"] == "extra_forbidden":
        valid = list(_model_at(root, loc[:-1]).model_fields)
        return line, (f"{where}: unknown key '{field}'.{did_you_mean(loc[-1], valid)} "
                      f"Valid keys here: {', '.join(valid)}.")
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] != "value_error":
        message = f"{message}; got {err.get('input')!r}"
    return line, f"{where}: {field}: {message}"


def _field_loc(err: dict) -> tuple:
    return tuple(p for p in err["loc"] if not _is_union_tag(p))


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and (part in ("float", "str", "bool", "Range", "int")
                                      or part.startswith(("list[", "function-", "constrained-",
                                                          "literal[")))


def _model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel]:
    model = root
    for part in loc:
        annotation = model.model_fields[part].annotation
        candidates = typing.get_args(annotation) or (annotation,)
        model = next(c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel))
    return model


def line_numbers(node: yaml.Node | None, path: tuple = ()) -> dict[tuple, int]:
    """Map each key path in the YAML document to its 1-based line."""
    lines: dict[tuple, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            lines[path + (key.value,)] = key.start_mark.line + 1
            lines.update(line_numbers(value, path + (key.value,)))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[path + (i,)] = item.start_mark.line + 1
    return lines


MAX_NODES = 100_000  # far above any config; a few nested aliases can stand for billions


def expanded_size(node: yaml.Node | None, seen: dict[int, int] | None = None) -> int:
    """How many values the YAML document stands for once its aliases are expanded, counted
    without expanding them (each node once); stops counting past ``MAX_NODES``."""
    if node is None:
        return 0
    seen = {} if seen is None else seen
    if id(node) not in seen:
        seen[id(node)] = 0  # an alias of a node inside itself counts once
        children = ([v for pair in node.value for v in pair]
                    if isinstance(node, yaml.MappingNode) else
                    node.value if isinstance(node, yaml.SequenceNode) else [])
        total = 1
        for child in children:
            total += expanded_size(child, seen)
            if total > MAX_NODES:
                break
        seen[id(node)] = total
    return seen[id(node)]
