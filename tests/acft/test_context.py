"""The ACFT context sampler: FUTO's formulas, clamping, determinism, coverage of deployment."""

from __future__ import annotations

import math
import random

import pytest

from whisper_tune.acft.context import ContextSampler, jitter_bound
from whisper_tune.errors import ConfigError
from whisper_tune.models import futo_audio_ctx

SR = 16_000


def only(scheme: str, **kwargs) -> ContextSampler:
    return ContextSampler(weights={scheme: 1.0}, **kwargs)


@pytest.mark.parametrize("seconds", [0.3, 1.0, 4.0, 7.77, 20.0])
def test_jitter_scheme_stays_in_futos_range(seconds):
    sampler = only("jitter")
    n = round(50 * seconds)
    bound = jitter_bound(n)
    draws = {sampler.sample(int(seconds * SR), epoch, f"clip{i}") for epoch in range(3) for i in range(200)}
    assert min(draws) >= max(1, n - bound)
    assert max(draws) <= n + bound - 1  # the upper end is exclusive, as in FUTO's notebook
    assert len(draws) > min(2 * bound, 20) // 2  # really jittered, not a constant


def test_jitter_bound_is_min_of_64_and_a_third():
    assert jitter_bound(30) == 10
    assert jitter_bound(192) == 64
    assert jitter_bound(1000) == 64
    assert jitter_bound(2) == 0


@pytest.mark.parametrize("n_samples", [1, 8_000, 64_000, 123_457, 463_000])
def test_deployed_schemes_reproduce_futos_formula(n_samples):
    voice = only("deployed", offsets=(32,))
    keyboard = only("deployed_floor", offsets=(32,))
    assert voice.sample(n_samples, 0, "a") == futo_audio_ctx(n_samples, floor=None)
    assert keyboard.sample(n_samples, 0, "a") == futo_audio_ctx(n_samples)
    assert voice.sample(n_samples, 0, "a") == min(math.ceil(n_samples / 320) + 32, 1500)


def test_offsets_are_all_drawn():
    sampler = only("deployed", offsets=(8, 32, 64))
    base = math.ceil(50_000 / 320)
    draws = {sampler.sample(50_000, 0, str(i)) for i in range(100)}
    assert draws == {base + 8, base + 32, base + 64}


def test_clamped_to_encoder_range():
    assert only("deployed", offsets=(64,)).sample(29 * SR, 0, "x") == 1500
    assert only("jitter").sample(1, 0, "x") == 1
    assert all(1 <= ContextSampler().sample(n, 0, str(n)) <= 1500 for n in range(1, 30 * SR, 9_973))


def test_full_scheme_is_the_whole_encoder_whatever_the_clip():
    sampler = only("full")
    assert {sampler.sample(n, 0, str(n)) for n in (1, 16_000, 160_000, 463_000)} == {1500}
    assert only("full", ceiling=448).sample(16_000, 0, "x") == 448
    assert sampler.support(16_000) == (1500, 1500)


def test_default_mix_draws_the_full_anchor_about_a_tenth_of_the_time():
    draws = [ContextSampler(seed=1).sample(3 * SR, 0, str(i)) for i in range(2000)]
    # A 3-s clip reaches 1500 only through the full scheme (weight 0.1 of 1.0).
    assert 0.07 < draws.count(1500) / len(draws) < 0.13


def test_deterministic_in_seed_epoch_and_key():
    a, b = ContextSampler(seed=3), ContextSampler(seed=3)
    keys = [f"k{i}" for i in range(50)]
    first = [a.sample(80_000, 2, k) for k in keys]
    assert first == [b.sample(80_000, 2, k) for k in keys]
    assert first != [a.sample(80_000, 3, k) for k in keys]
    assert first != [ContextSampler(seed=4).sample(80_000, 2, k) for k in keys]


def test_mix_covers_every_scheme_and_the_support():
    sampler = ContextSampler(seed=0)
    rng = random.Random(0)
    for _ in range(20):
        n_samples = rng.randrange(SR // 2, 29 * SR)
        low, high = sampler.support(n_samples)
        draws = [sampler.sample(n_samples, 0, str(i)) for i in range(300)]
        assert low <= min(draws) and max(draws) <= high
        # FUTO's own deployed contexts (+32, with and without the floor) are among the draws.
        assert futo_audio_ctx(n_samples, floor=None) in draws
        assert futo_audio_ctx(n_samples) in draws


@pytest.mark.parametrize(
    "kwargs",
    [
        {"weights": {"jitter": 0.0}},
        {"weights": {"nonsense": 1.0}},
        {"weights": {"jitter": -1.0, "deployed": 2.0}},
        {"weights": {"deployed": 1.0}, "offsets": ()},
        {"ceiling": 2000},
    ],
)
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ConfigError):
        ContextSampler(**kwargs)
