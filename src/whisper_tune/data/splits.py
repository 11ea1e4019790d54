"""Deterministic train/validation/test splits.

Each clip's group key (its speaker when the manifest has speakers, so one voice never lands
in two splits; else its id) is hashed with the seed (SHA-256) into a number in [0, 1); the
fractions cut [0, 1) into val, test, ..., then train. The assignment depends only on the key
and the seed: the same data gives the same split on every machine, and adding clips never
moves existing ones.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

from whisper_tune.data.manifest import ManifestRow
from whisper_tune.errors import ConfigError

log = logging.getLogger(__name__)

TRAIN = "train"


def parse_split_spec(spec: str) -> dict[str, float]:
    """``"val=0.1,test=0.1"`` -> ``{"val": 0.1, "test": 0.1}`` (train takes the rest)."""
    fractions: dict[str, float] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ConfigError(f"`split` {spec!r}: {part!r} is not NAME=FRACTION (e.g. val=0.1,test=0.1)")
        if name == TRAIN:
            raise ConfigError(f"`split` {spec!r}: train takes what the other splits leave; do not name it")
        if name in fractions:
            raise ConfigError(f"`split` {spec!r}: {name!r} is given twice")
        try:
            fraction = float(value)
        except ValueError:
            raise ConfigError(f"`split` {spec!r}: {value!r} is not a number between 0 and 1") from None
        if not 0 < fraction < 1:
            raise ConfigError(f"`split` {spec!r}: {name}={value} must be between 0 and 1")
        fractions[name] = fraction
    if not fractions:
        raise ConfigError(f"`split` {spec!r}: expected NAME=FRACTION pairs such as val=0.1,test=0.1")
    if sum(fractions.values()) >= 1:
        raise ConfigError(
            f"`split` {spec!r}: the fractions add up to {sum(fractions.values()):g}; leave some for train"
        )
    return fractions


def split_key(row: ManifestRow, by_speaker: bool) -> str:
    """The grouping key: the speaker (when splitting by speaker and known), else the id."""
    if by_speaker and row.speaker:
        return f"speaker:{row.speaker}"
    return f"id:{row.id}"


def unit_hash(key: str, seed: int) -> float:
    """A stable number in [0, 1) for ``key`` (SHA-256: the same on every machine)."""
    digest = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(
    rows: Sequence[ManifestRow], fractions: dict[str, float], seed: int = 0
) -> dict[str, list[ManifestRow]]:
    """Rows per split name (``train`` first, then the names in ``fractions`` order).

    Groups by speaker when any row has one. A named split that the hash left empty takes the
    one train group whose hash lies nearest its interval (when there are enough groups), so a
    small dataset still gets a validation set; that choice is deterministic too.
    """
    by_speaker = any(row.speaker for row in rows)
    groups: dict[str, float] = {}
    for row in rows:
        key = split_key(row, by_speaker)
        groups.setdefault(key, unit_hash(key, seed))
    bounds: dict[str, tuple[float, float]] = {}
    low = 0.0
    for name, fraction in fractions.items():
        bounds[name] = (low, low + fraction)
        low += fraction
    if by_speaker and len(groups) < 10:
        log.warning(
            "splitting %d speaker group(s): whole speakers move between splits, so the split sizes "
            "can be far from the fractions asked for", len(groups)
        )
    assigned = {key: _interval_name(u, bounds) for key, u in groups.items()}
    for name, (lo, hi) in bounds.items():
        train_keys = [k for k, split in assigned.items() if split == TRAIN]
        if name in assigned.values() or len(train_keys) < 2:
            continue
        nearest = min(train_keys, key=lambda k: (_distance(groups[k], lo, hi), k))
        log.info("split %s drew no group by hash; giving it %s", name, nearest)
        assigned[nearest] = name
    result: dict[str, list[ManifestRow]] = {TRAIN: [], **{name: [] for name in fractions}}
    for row in rows:
        result[assigned[split_key(row, by_speaker)]].append(row)
    return result


def _interval_name(u: float, bounds: dict[str, tuple[float, float]]) -> str:
    for name, (lo, hi) in bounds.items():
        if lo <= u < hi:
            return name
    return TRAIN


def _distance(u: float, lo: float, hi: float) -> float:
    return 0.0 if lo <= u < hi else min(abs(u - lo), abs(u - hi))
