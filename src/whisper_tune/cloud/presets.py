"""One preset per Whisper size for the Modal app's entries (``modal run ...::base_en_acft_app``).

Each preset is the model's Hub id plus the settings that fit the preset's GPU; everything
else is the config defaults (for ACFT those are FUTO's recipe: every parameter, Adam,
learning rate 1e-6 constant, 8 epochs, clips up to 29 s). The shipped ``configs/acft_<size>.yaml``
and ``configs/<size>_lora.yaml`` files hold the same settings (a test keeps them equal).

Batch sizes are for 40 GB (an A100) with bf16 autocast and clips of at most 29 s; large-v3
needs 80 GB for full ACFT (fp32 weights, a frozen fp32 reference and Adam's two moments are
about 31 GB before activations). They are sized from parameter counts, not measured on
each GPU: lower batch_size (raising gradient_accumulation_steps) if a run runs out of memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from whisper_tune.errors import ConfigError


@dataclass(frozen=True)
class SizePreset:
    size: str  # tiny.en, base, large-v3-turbo ...
    model: str  # Hub id
    acft_batch: int
    acft_accumulation: int
    train_batch: int
    train_accumulation: int
    checkpointing: bool  # gradient checkpointing in both kinds
    gpu: str = "A100"

    @property
    def multilingual(self) -> bool:
        return not self.size.endswith(".en")

    @property
    def entry_stem(self) -> str:
        """``large-v3-turbo`` -> ``large_v3_turbo``; ``base.en`` -> ``base_en``."""
        return self.size.replace(".", "_").replace("-", "_")

    def overrides(self, kind: str) -> list[str]:
        """The preset's config overrides for ``kind`` (train or acft)."""
        if kind not in ("train", "acft"):
            raise ConfigError(f"presets are for train and acft, not {kind!r}")
        batch, accumulation = ((self.acft_batch, self.acft_accumulation) if kind == "acft"
                               else (self.train_batch, self.train_accumulation))
        items = [f"model={self.model}", f"batch_size={batch}", f"gradient_accumulation_steps={accumulation}",
                 f"gradient_checkpointing={'true' if self.checkpointing else 'false'}",
                 f"output_dir=runs/{self.entry_stem}_{kind}"]
        if self.multilingual:
            items.append("language=en")
        return items


PRESETS: dict[str, SizePreset] = {p.size: p for p in (
    SizePreset("tiny.en", "openai/whisper-tiny.en", 8, 1, 16, 1, False),
    SizePreset("tiny", "openai/whisper-tiny", 8, 1, 16, 1, False),
    SizePreset("base.en", "openai/whisper-base.en", 8, 1, 16, 1, False),
    SizePreset("base", "openai/whisper-base", 8, 1, 16, 1, False),
    SizePreset("small.en", "openai/whisper-small.en", 8, 1, 8, 2, True),
    SizePreset("small", "openai/whisper-small", 8, 1, 8, 2, True),
    SizePreset("medium.en", "openai/whisper-medium.en", 4, 2, 8, 2, True),
    SizePreset("medium", "openai/whisper-medium", 4, 2, 8, 2, True),
    SizePreset("large-v3", "openai/whisper-large-v3", 2, 4, 4, 4, True, gpu="A100-80GB"),
    SizePreset("large-v3-turbo", "openai/whisper-large-v3-turbo", 4, 2, 8, 2, True),
)}


def preset(size: str) -> SizePreset:
    try:
        return PRESETS[size]
    except KeyError:
        raise ConfigError(f"unknown Whisper size {size!r}; expected one of {', '.join(PRESETS)}") from None
