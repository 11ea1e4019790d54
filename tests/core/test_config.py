"""whisper_tune.config: typed configs that fail early with the key, value and expectation."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from whisper_tune.config import describe, doc, dump_yaml, load_config, parse_overrides, to_dict
from whisper_tune.errors import ConfigError


@dataclass
class Adapter:
    rank: int = field(default=8, metadata=doc("LoRA rank", min=1))
    targets: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"], metadata=doc("modules"))


@dataclass
class Example:
    model: str = field(default="embedded:tiny.en", metadata=doc("model spec"))
    method: Literal["lora", "full"] = field(default="lora", metadata=doc("method"))
    learning_rate: float = field(default=1e-4, metadata=doc("peak learning rate", min=0.0))
    precision: str = field(default="auto", metadata=doc("mixed precision", choices=("auto", "no", "fp16")))
    merge: bool = field(default=False, metadata=doc("merge at the end"))
    output: Path | None = field(default=None, metadata=doc("output folder"))
    adapter: Adapter = field(default_factory=Adapter)

    def validate(self) -> None:
        if self.method == "full" and self.adapter.rank != 8:
            raise ConfigError("adapter.rank has no meaning with method=full")


def test_file_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("method: full\nadapter:\n  targets: [fc1]\n")
    config = load_config(Example, path, ["learning_rate=3e-5", "merge=true", "output=out/x"])
    assert config.method == "full" and config.learning_rate == 3e-5 and config.merge is True
    assert config.adapter.targets == ["fc1"] and config.adapter.rank == 8
    assert config.output == Path("out/x")


def test_json_and_yaml_agree(tmp_path):
    data = {"method": "lora", "adapter": {"rank": 16, "targets": ["q_proj"]}}
    (tmp_path / "c.json").write_text(json.dumps(data))
    (tmp_path / "c.yml").write_text(dump_yaml(load_config(Example, base=data)))
    assert load_config(Example, tmp_path / "c.json") == load_config(Example, tmp_path / "c.yml")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["adapter.rnak=4"], r"unknown key 'adapter.rnak'; did you mean 'adapter.rank'"),
        (["method=dora"], r"method=dora is not one of 'lora', 'full'"),
        (["adapter.rank=0"], r"adapter.rank=0 must be at least 1"),
        (["adapter.rank=2.5"], r"adapter.rank=2.5 must be a whole number"),
        (["learning_rate=fast"], r"learning_rate=fast must be a number"),
        (["precision=fp8"], r"precision=fp8 is not one of auto, no, fp16"),
        (["merge=perhaps"], r"merge=perhaps must be true or false"),
        (["method=full", "adapter.rank=4"], r"adapter.rank has no meaning"),
        (["rank"], r"not of the form key=value"),
    ],
)
def test_bad_values_name_key_value_and_expectation(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(Example, overrides=overrides)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Example, tmp_path / "missing.yaml")
    (tmp_path / "c.toml").write_text("x = 1")
    with pytest.raises(ConfigError, match=r"unknown config type '\.toml'"):
        load_config(Example, tmp_path / "c.toml")
    (tmp_path / "c.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(Example, tmp_path / "c.json")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(Example, tmp_path / "list.yaml")


def test_overrides_keep_text_for_the_field_type_to_convert():
    assert parse_overrides(["a.b=3", "c=[1, 2]", "d=", "e=x=y", "f=null", "g=no"]) == {
        "a": {"b": "3"}, "c": [1, 2], "d": "", "e": "x=y", "f": None, "g": "no"}


def test_yaml_words_stay_words_for_text_fields():
    config = load_config(Example, overrides=["model=no", "merge=no", "precision=no"])
    assert config.model == "no" and config.merge is False and config.precision == "no"


def test_describe_and_to_dict_cover_every_field():
    rows = {key: (kind, default, text) for key, kind, default, text in describe(Example)}
    assert set(rows) == {"model", "method", "learning_rate", "precision", "merge", "output",
                         "adapter.rank", "adapter.targets"}
    assert rows["method"][0] == "'lora' | 'full'"
    assert rows["adapter.rank"] == ("int", "8", "LoRA rank")
    assert to_dict(Example())["adapter"] == {"rank": 8, "targets": ["q_proj", "v_proj"]}


def _optional_keys(cls, prefix: str = "") -> list[str]:
    """Every key of ``cls`` (nested dataclasses dotted) whose type admits None."""
    import dataclasses
    import types
    import typing

    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            keys += _optional_keys(hint, f"{prefix}{f.name}.")
        elif typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint):
            keys.append(prefix + f.name)
    return keys


#: What each config needs to validate; an empty value of one of these must say it is not set.
REQUIRED = {"TrainConfig": ["train_manifest=t.csv"], "AcftConfig": ["train_manifest=t.csv", "model=m"], "Example": []}


@pytest.mark.parametrize("cls_name", sorted(REQUIRED))
def test_an_empty_value_unsets_every_optional_key(cls_name):
    from whisper_tune.acft.config import AcftConfig
    from whisper_tune.training.config import TrainConfig

    cls = {"TrainConfig": TrainConfig, "AcftConfig": AcftConfig, "Example": Example}[cls_name]
    keys = _optional_keys(cls)
    assert keys
    for key in keys:
        required = [o for o in REQUIRED[cls_name] if not o.startswith(f"{key}=")]
        if len(required) < len(REQUIRED[cls_name]):  # emptied a required key: it is now unset
            with pytest.raises(ConfigError, match=f"{key} is not set"):
                load_config(cls, None, [*required, f"{key}="])
            continue
        for empty in ("", "  "):
            node = to_dict(load_config(cls, None, [*required, f"{key}={empty}"]))
            for part in key.split("."):
                node = node[part]
            assert node is None, (key, node)


def test_an_empty_required_path_is_an_error():
    @dataclass
    class WithPath:
        folder: Path = field(default=Path("runs"), metadata=doc("output folder"))

    with pytest.raises(ConfigError, match="folder is empty; give a path"):
        load_config(WithPath, None, ["folder="])
