"""Deterministic, stable, speaker-disjoint splits."""

from __future__ import annotations

from pathlib import Path

import pytest

from whisper_tune.data.manifest import ManifestRow
from whisper_tune.data.splits import assign_splits, parse_split_spec, unit_hash
from whisper_tune.errors import ConfigError


def rows(n: int, speakers: int = 0, start: int = 0) -> list[ManifestRow]:
    return [
        ManifestRow(f"clip{i:04d}", Path(f"/d/{i}.wav"), "t", 1.0, 16_000, 1, f"s{i % speakers}" if speakers else None)
        for i in range(start, start + n)
    ]


def test_hash_is_the_same_on_every_machine() -> None:
    # SHA-256 of "seed\0key": fixed numbers, whatever the platform or Python hash seed.
    assert unit_hash("id:a", 0) == 0.37115637669011586
    assert unit_hash("speaker:ann", 7) == 0.6569747027208185


def test_fractions_are_respected_and_adding_data_moves_nothing() -> None:
    first = assign_splits(rows(2000), {"val": 0.1, "test": 0.05}, seed=3)
    assert list(first) == ["train", "val", "test"]
    assert abs(len(first["val"]) - 200) < 45 and abs(len(first["test"]) - 100) < 35
    more = assign_splits(rows(2000) + rows(500, start=2000), {"val": 0.1, "test": 0.05}, seed=3)
    for name in first:
        assert {r.id for r in first[name]} <= {r.id for r in more[name]}
    assert assign_splits(rows(2000), {"val": 0.1, "test": 0.05}, seed=3) == first
    assert assign_splits(rows(2000), {"val": 0.1, "test": 0.05}, seed=4) != first


def test_speakers_never_span_two_splits() -> None:
    parts = assign_splits(rows(600, speakers=30), {"val": 0.2}, seed=0)
    speakers = {name: {r.speaker for r in part} for name, part in parts.items()}
    assert speakers["train"] and speakers["val"] and not speakers["train"] & speakers["val"]
    assert sum(len(p) for p in parts.values()) == 600


def test_small_dataset_still_gets_each_split() -> None:
    parts = assign_splits(rows(3), {"val": 0.01}, seed=0)
    assert len(parts["val"]) == 1 and len(parts["train"]) == 2
    assert assign_splits(rows(1), {"val": 0.01}, seed=0) == {"train": rows(1), "val": []}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("val", "NAME=FRACTION"),
        ("train=0.1", "train takes"),
        ("val=0.1,val=0.2", "given twice"),
        ("val=x", "not a number"),
        ("val=1.5", "between 0 and 1"),
        ("val=0.6,test=0.4", "leave some for train"),
        ("", "expected NAME=FRACTION"),
    ],
)
def test_bad_split_specs(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_split_spec(spec)


def test_good_split_spec() -> None:
    assert parse_split_spec(" val=0.1, test=0.05 ") == {"val": 0.1, "test": 0.05}
