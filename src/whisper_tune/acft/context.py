"""Which encoder context (``n_ctx``, 50 positions per second) ACFT trains a clip at.

ACFT teaches the model to behave on a shortened encoder exactly as it does on the full one,
so the contexts seen in training must cover the contexts whisper.cpp is given when the model
is deployed. Four schemes are mixed (the first three are FUTO's; docs/ACFT.md):

``jitter``
    FUTO's notebook: ``n = round(50 * seconds)`` plus an integer drawn uniformly from
    ``[-min(64, n // 3), min(64, n // 3))``. Negative jitter cuts up to a third of the
    speech (at most 1.28 s) and positive jitter adds silence: the model learns both edges.
``deployed``
    What FUTO Voice Input hands whisper.cpp: ``ceil(samples / 320) + offset``, the offset
    drawn from ``offsets`` (FUTO's +32 by default, and +8 / +64 around it).
``deployed_floor``
    FUTO Keyboard: the same, but at least ``floor`` (160 = 3.2 s), so short clips are also
    trained with a generous amount of trailing silence.
``full``
    whisper-tune's anchor, not in FUTO's notebook: the full 1500 positions, where the student
    is the reference at the start. Its loss is exactly how far training has moved the model
    where it was already right, so a small share of these batches holds the full-context WER
    at the stock model's (measured: docs/BENCHMARKS.md, ACFT).

Every result is clamped to ``[1, 1500]`` (FUTO's notebook does not clamp and can ask for
more positions than the encoder has near 29 s).

Draws are deterministic in ``(seed, epoch, key)``: a resumed run, or a second run with the
same seed, trains every clip at the same contexts. ``key`` identifies what the context is
for (a clip id, or the ids of a batch), never Python's salted ``hash()``.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from whisper_tune.errors import ConfigError
from whisper_tune.models.short_encoder import FUTO_FLOOR, FUTO_OFFSET
from whisper_tune.whisper_constants import FULL_AUDIO_CTX, POSITIONS_PER_SECOND, SAMPLE_RATE, SAMPLES_PER_POSITION

#: FUTO's jitter is at most this many positions either way.
MAX_JITTER = 64
SCHEMES: tuple[str, ...] = ("jitter", "deployed", "deployed_floor", "full")


def jitter_bound(n_ctx: int, max_jitter: int = MAX_JITTER) -> int:
    """``min(64, n_ctx // 3)``: the jitter range is ``[-bound, bound)``."""
    return min(int(max_jitter), int(n_ctx) // 3)


def clamp_context(n_ctx: int, ceiling: int = FULL_AUDIO_CTX) -> int:
    return int(min(max(int(n_ctx), 1), ceiling))


@dataclass(frozen=True)
class ContextSampler:
    """Draws an encoder context for a clip of ``n_samples`` 16 kHz samples.

    ``weights`` maps each scheme (see the module docs) to its relative frequency; schemes
    with weight 0 are never drawn. ``offsets`` are the ``deployed`` offsets in positions.
    """

    weights: Mapping[str, float] = field(
        default_factory=lambda: {"jitter": 0.4, "deployed": 0.3, "deployed_floor": 0.2, "full": 0.1}
    )
    offsets: Sequence[int] = (8, FUTO_OFFSET, 64)
    floor: int = FUTO_FLOOR
    max_jitter: int = MAX_JITTER
    ceiling: int = FULL_AUDIO_CTX
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.weights) - set(SCHEMES))
        if unknown:
            raise ConfigError(f"context scheme {unknown[0]!r} is unknown; expected {', '.join(SCHEMES)}")
        if any(float(w) < 0 for w in self.weights.values()) or sum(map(float, self.weights.values())) <= 0:
            raise ConfigError(f"context weights {dict(self.weights)} must be >= 0 and not all 0")
        if (
            float(self.weights.get("deployed", 0)) + float(self.weights.get("deployed_floor", 0)) > 0
            and not self.offsets
        ):
            raise ConfigError("context offsets is empty; the deployed schemes need at least one offset (e.g. 32)")
        if self.max_jitter < 0 or self.floor < 0 or not 1 <= self.ceiling <= FULL_AUDIO_CTX:
            raise ConfigError(
                f"max_jitter={self.max_jitter}, floor={self.floor}, ceiling={self.ceiling}: expected "
                f"max_jitter >= 0, floor >= 0 and 1 <= ceiling <= {FULL_AUDIO_CTX}"
            )

    def rng(self, epoch: int, key: str) -> random.Random:
        """A generator private to ``(seed, epoch, key)``, the same on every platform."""
        digest = hashlib.blake2b(f"{self.seed}\0{epoch}\0{key}".encode(), digest_size=8).digest()
        return random.Random(int.from_bytes(digest, "little"))

    def sample(self, n_samples: int, epoch: int, key: str) -> int:
        """The context for a clip (or a batch whose longest clip has) ``n_samples`` samples."""
        rng = self.rng(epoch, key)
        schemes = [s for s in SCHEMES if float(self.weights.get(s, 0)) > 0]
        scheme = rng.choices(schemes, weights=[float(self.weights[s]) for s in schemes])[0]
        return self.draw(scheme, n_samples, rng)

    def draw(self, scheme: str, n_samples: int, rng: random.Random) -> int:
        """One context from ``scheme`` (exposed so tests and docs can show each scheme)."""
        if scheme == "jitter":
            n_ctx = round(POSITIONS_PER_SECOND * n_samples / SAMPLE_RATE)
            bound = jitter_bound(n_ctx, self.max_jitter)
            if bound > 0:
                n_ctx += rng.randrange(-bound, bound)
        elif scheme in ("deployed", "deployed_floor"):
            n_ctx = math.ceil(n_samples / SAMPLES_PER_POSITION) + int(rng.choice(list(self.offsets)))
            if scheme == "deployed_floor":
                n_ctx = max(n_ctx, self.floor)
        elif scheme == "full":
            n_ctx = self.ceiling
        else:
            raise ConfigError(f"context scheme {scheme!r} is unknown; expected {', '.join(SCHEMES)}")
        return clamp_context(n_ctx, self.ceiling)

    def support(self, n_samples: int) -> tuple[int, int]:
        """The smallest and largest context any scheme can give ``n_samples`` (for docs/tests)."""
        n = round(POSITIONS_PER_SECOND * n_samples / SAMPLE_RATE)
        bound = jitter_bound(n, self.max_jitter)
        deployed = math.ceil(n_samples / SAMPLES_PER_POSITION)
        low = [n - bound] if self.weights.get("jitter", 0) else []
        high = [n + bound - 1 if bound else n] if self.weights.get("jitter", 0) else []
        if self.weights.get("deployed", 0):
            low.append(deployed + min(self.offsets))
            high.append(deployed + max(self.offsets))
        if self.weights.get("deployed_floor", 0):
            low.append(max(deployed + min(self.offsets), self.floor))
            high.append(max(deployed + max(self.offsets), self.floor))
        if self.weights.get("full", 0):
            low.append(self.ceiling)
            high.append(self.ceiling)
        return clamp_context(min(low), self.ceiling), clamp_context(max(high), self.ceiling)
