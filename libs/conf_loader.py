"""Typed YAML loading: nested dicts to frozen dataclasses, with errors that name the bad key."""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from pmkt.libs.errors import ConfigError

T = TypeVar("T")
_SCALARS = (str, int, float, bool)


MERGE_ENTRY = "extends_source"  # an entry of a named map (a source) that merges with the inherited one


def read_yaml(path: str | Path, cls: type | None = None, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a YAML mapping, following an optional top-level `extends:` (relative to the file).

    With `cls`, the merge follows its types: config sections merge key by key, while free-form
    maps (a column map, reader options) and the entries of named maps (a source, a channel) are
    replaced whole, so a child never inherits a stray column or timestamp format. A source that
    says `extends_source: true` merges with the inherited source of the same name instead.
    """
    file = Path(path)
    if not file.is_file():
        where = f" (extended by {_chain[-1]})" if _chain else ""
        raise ConfigError(f"config file not found: {file}{where}")
    if file.resolve() in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain, file.resolve()))
        raise ConfigError(f"config files extend each other in a cycle: {cycle}")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {file} is not UTF-8 text (bad byte at offset {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {file} is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {file} must hold a mapping at the top level")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    return deep_merge(read_yaml(file.parent / str(parent), cls, (*_chain, file.resolve())), data, cls)


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any], tp: Any = None) -> dict[str, Any]:
    """Merge `top` over `base`; `null` drops the inherited key (falling back to the default).

    Untyped (`tp` None), nested mappings merge. Typed, a mapping of plain values is replaced whole,
    and so is an entry of a named map of sections unless it sets `extends_source: true`.
    """
    out = dict(base)
    named_map = tp is not None and not dataclasses.is_dataclass(tp)
    for key, value in top.items():
        child = _child_type(tp, key)
        inherit = not named_map or (isinstance(value, Mapping) and value.get(MERGE_ENTRY) is True)
        if value is None and key in out:
            del out[key]
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and _merges(child) and inherit:
            out[key] = deep_merge(out[key], value, child)
        else:
            out[key] = value
    return out


def _child_type(tp: Any, key: str) -> Any:
    if tp is None:
        return None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _unwrap(_hints(tp)[key]) if key in _hints(tp) else None
    return _unwrap(typing.get_args(tp)[1])  # a Mapping[str, X]


def _merges(tp: Any) -> bool:
    """Sections and maps of sections merge; free-form maps of plain values don't."""
    if tp is None or dataclasses.is_dataclass(tp):
        return True
    args = typing.get_args(tp)
    return len(args) == 2 and dataclasses.is_dataclass(_unwrap(args[1]))


def apply_override(cls: type, data: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Apply one `a.b.c=value` to raw config data, guided by the dataclass types.

    The value is parsed as YAML, so `3` is an int and `[a, b]` a list. Keys of free-form
    mappings (such as Spark options) may themselves contain dots.
    """
    if "=" not in assignment:
        raise ConfigError(f"--set expects key=value, got '{assignment}'")
    dotted, raw = assignment.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:  # a lone `,` (a decimal mark) is not YAML: the text as typed
        value = raw
    if value == "" and raw.strip()[:1] in ("|", ">"):  # YAML reads a lone `|` (a separator) as an empty block
        value = raw
    parts = dotted.strip().split(".")
    out = deep_merge({}, data)
    node: dict[str, Any] = out
    tp: Any = cls
    walked: list[str] = []
    while parts:
        key = parts.pop(0)
        walked.append(key)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            hints = _hints(tp)
            if key not in hints:
                raise ConfigError(f"unknown config key '{'.'.join(walked)}'")
            child_tp = _unwrap(hints[key])
        else:  # a Mapping[str, X]: the key is a free-form name
            child_tp = _unwrap(typing.get_args(tp)[1])
            if not dataclasses.is_dataclass(child_tp):
                key, parts = ".".join([key, *parts]), []
        if not parts:
            node[key] = value
            break
        child = node.get(key)
        node[key] = dict(child) if isinstance(child, Mapping) else {}
        node, tp = node[key], child_tp
    return out


def _unwrap(tp: Any) -> Any:
    """Strip Optional[...] from a type hint."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return inner[0]
    return tp


def build(cls: type[T], data: Any, path: str = "") -> T:
    """Build dataclass `cls` from `data`, checking keys and types recursively."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"config key '{path or '<root>'}' must be a mapping, got {_show(data)}")
    hints = _hints(cls)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ConfigError(f"unknown config key '{_join(path, unknown[0])}'")
    kwargs = {name: _coerce(hints[name], data[name], _join(path, name)) for name in data}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config section '{path or '<root>'}': {exc}") from None


def _coerce(tp: Any, value: Any, path: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, path)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return build(tp, value, path)
    if origin in (Mapping, dict, typing.Mapping):
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{path}' must be a mapping, got {_show(value)}")
        key_tp, val_tp = args
        return types.MappingProxyType({str(k): _coerce(val_tp, v, f"{path}.{k}") for k, v in value.items()})
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{path}' must be a list, got {_show(value)}")
        return tuple(_coerce(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
    return _scalar(tp, value, path)


def _scalar(tp: Any, value: Any, path: str) -> Any:
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is str and isinstance(value, dt.date):
        return value.isoformat()  # YAML reads an unquoted 2025-06-01 as a date
    if tp is str and isinstance(value, bool):
        return "true" if value else "false"  # e.g. a Spark option written as YAML `false`
    if tp is str and isinstance(value, _SCALARS):
        return str(value)
    if tp in (int, bool, float) and isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"config key '{path}' expects {tp.__name__}, got {_show(value)}")


def _hints(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}"
