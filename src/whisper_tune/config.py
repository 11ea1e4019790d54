"""Typed configuration: dataclasses loaded from YAML/JSON plus ``key=value`` overrides.

A config class is a (possibly nested) dataclass whose fields carry their documentation in
``field(metadata={"doc": ...})``. Loading checks every key and value before any work starts:
an unknown key, a wrong type, a value outside ``choices`` or below ``min`` raises a
:class:`ConfigError` that names the key, the value and what was expected.

    cfg = load_config(TrainConfig, "configs/tiny_lora.yaml", ["lora.rank=16", "seed=3"])
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from whisper_tune.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


def doc(text: str, **extra: Any) -> dict[str, Any]:
    """Field metadata helper: ``field(default=..., metadata=doc("...", choices=(...), min=0))``."""
    return {"doc": text, **extra}


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a .yaml/.yml/.json config file into a mapping."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{file}: config file not found")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read config ({exc})") from exc
    try:
        if file.suffix.lower() == ".json":
            data = json.loads(text)
        elif file.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise ConfigError(f"{file}: unknown config type {file.suffix!r}; expected .yaml, .yml or .json")
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{file}: not valid {file.suffix[1:].upper()}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: the top level must be a mapping of keys to values")
    return data


def parse_overrides(overrides: Iterable[str]) -> dict[str, Any]:
    """``["a.b=3", "name=x"]`` -> nested dict of raw values (see :func:`_override_value`)."""
    nested: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key=value (e.g. learning_rate=1e-4)")
        value = _override_value(raw.strip())
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} conflicts with an earlier override of {part!r}")
        node[parts[-1]] = value
    return nested


def _override_value(raw: str) -> Any:
    """Lists, mappings and null are parsed as YAML; everything else stays text for the field's
    type to convert, so that ``resume=no`` stays the word "no" for a text field (YAML 1.1
    would make it false) while ``merge=no`` still means false for a true/false field."""
    import yaml

    if raw in ("null", "~"):
        return None
    if raw.startswith(("[", "{")):
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"override value {raw!r} is not a valid list or mapping: {exc}") from exc
    return raw


def merge_dicts(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_dicts(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(
    cls: type[T],
    path: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    base: Mapping[str, Any] | None = None,
) -> T:
    """Build and validate a ``cls`` from defaults, ``base``, the file at ``path``, then overrides."""
    data: dict[str, Any] = dict(base or {})
    source = str(path) if path else "defaults"
    if path is not None:
        data = merge_dicts(data, read_config_file(path))
    data = merge_dicts(data, parse_overrides(overrides))
    return from_dict(cls, data, source=source)


def from_dict(cls: type[T], data: Mapping[str, Any], source: str = "config", prefix: str = "") -> T:
    """Construct a config dataclass from a mapping, checking keys, types and constraints."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'config'} must be a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = get_type_hints(cls)
    unknown = [key for key in data if key not in fields]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, fields, n=1)
        suggestion = f"; did you mean {prefix + close[0]!r}?" if close else ""
        raise ConfigError(
            f"{source}: unknown key {prefix + str(key)!r}{suggestion} (valid keys: {', '.join(sorted(fields))})"
        )
    values = {}
    for name, value in data.items():
        field = fields[name]
        values[name] = _coerce(value, hints[name], f"{prefix}{name}", field.metadata, source)
    try:
        instance = cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    validate = getattr(instance, "validate", None)
    if callable(validate):
        validate()
    return instance


def _coerce(value: Any, hint: Any, key: str, metadata: Mapping[str, Any], source: str) -> Any:
    converted = _convert(value, hint, key, source)
    choices = metadata.get("choices")
    if choices is not None and converted not in choices:
        raise ConfigError(f"{source}: {key}={_fmt(value)} is not one of {', '.join(map(str, choices))}")
    minimum = metadata.get("min")
    if minimum is not None and converted is not None and converted < minimum:
        raise ConfigError(f"{source}: {key}={_fmt(value)} must be at least {minimum}")
    maximum = metadata.get("max")
    if maximum is not None and converted is not None and converted > maximum:
        raise ConfigError(f"{source}: {key}={_fmt(value)} must be at most {maximum}")
    return converted


def _convert(value: Any, hint: Any, key: str, source: str) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        args = get_args(hint)
        if type(None) in args and (value is None or _is_blank(value)):
            return None  # an empty value unsets an optional key: `validation_manifest=`
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, key, source)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[-1] if errors else f"{source}: {key} has no valid type")
    if origin is Literal:
        allowed = get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{source}: {key}={_fmt(value)} is not one of {', '.join(map(repr, allowed))}")
        return value
    if origin in (list, tuple, Sequence, typing.Sequence):
        item_hint = (get_args(hint) or (Any,))[0]
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: {key}={_fmt(value)} must be a list")
        items = [_convert(v, item_hint, f"{key}[{i}]", source) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}: {key}={_fmt(value)} must be a mapping")
        return dict(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_dict(hint, value, source, prefix=f"{key}.")
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
            return value.lower() in ("true", "yes", "on", "1")
        raise ConfigError(f"{source}: {key}={_fmt(value)} must be true or false")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"{source}: {key}={_fmt(value)} must be a whole number")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{source}: {key}={_fmt(value)} must be a whole number") from None
        if not number.is_integer():
            raise ConfigError(f"{source}: {key}={_fmt(value)} must be a whole number")
        return int(number)
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(f"{source}: {key}={_fmt(value)} must be a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: {key}={_fmt(value)} must be a number") from None
    if hint is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{source}: {key}={_fmt(value)} must be a string")
        return str(value)
    if hint is Path:
        if not isinstance(value, (str, os.PathLike)):
            raise ConfigError(f"{source}: {key}={_fmt(value)} must be a path")
        if _is_blank(value):
            raise ConfigError(f"{source}: {key} is empty; give a path")
        return Path(value)
    raise TypeError(f"config field {key} has a type the config loader does not support: {hint!r}")


def _is_blank(value: Any) -> bool:
    return isinstance(value, str) and not value.strip()


def _fmt(value: Any) -> str:
    """A value as the user typed it: bare text for simple words and numbers, quoted otherwise."""
    if isinstance(value, str) and value and not any(c.isspace() for c in value):
        return value
    return repr(value)


def to_dict(config: Any) -> dict[str, Any]:
    """A plain, JSON/YAML-serialisable mapping of a config dataclass."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(config)


def dump_yaml(config: Any) -> str:
    import yaml

    return yaml.safe_dump(to_dict(config), sort_keys=False, allow_unicode=True)


def describe(cls: type[DataclassInstance], prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(key, type, default, doc) for every field, nested ones dotted: for docs and --help."""
    rows = []
    hints = get_type_hints(cls)
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            rows.extend(describe(hint, f"{prefix}{field.name}."))
            continue
        if field.default is not dataclasses.MISSING:
            default = repr(field.default)
        elif field.default_factory is not dataclasses.MISSING:
            default = repr(field.default_factory())
        else:
            default = "(required)"
        if get_origin(hint) is Literal:
            type_name = " | ".join(map(repr, get_args(hint)))
        else:
            type_name = str(hint).replace("typing.", "") if get_args(hint) else getattr(hint, "__name__", str(hint))
        rows.append((f"{prefix}{field.name}", type_name, default, field.metadata.get("doc", "")))
    return rows
