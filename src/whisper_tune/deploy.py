"""How a GGML file is decoded where it is deployed: one typed preset per client.

``verify --as NAME`` and ``eval --as NAME`` decode with the preset's settings, on whisper.cpp
and on the reference model alike (our beam search is whisper.cpp's, see
:mod:`whisper_tune.transcribe.beam`). The FUTO values are read from FUTO Keyboard's and
FUTO Voice Input's public sources (the code that calls ``whisper_full``); whisper-cli's are
whisper.cpp 1.8.5's defaults for its command-line tool, with ``-nt`` (no timestamps).

Each preset also names the whisper.cpp generation its client ships (``shipped_runtimes``):
FUTO Keyboard and FUTO Voice Input vendor whisper.cpp of the 1.5 generation, so only that
runtime's verdict is the verdict "as deployed" for them; whisper-cli is a current whisper.cpp
(1.8.5 here) or the user's own build. Other runtimes are still judged, as advice.

A glossary becomes FUTO's initial prompt ``(Glossary: w1, w2, ...)``, built from the user's
personal dictionary in the apps; whisper.cpp keeps at most 224 prompt tokens, so a longer
prompt is refused rather than silently cut.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from whisper_tune.demo_data import read_terms
from whisper_tune.errors import ConfigError
from whisper_tune.evaluation.contexts import contexts_for
from whisper_tune.formats.ggml import read_ggml
from whisper_tune.models import load_processor
from whisper_tune.transcribe.types import DecodeOptions
from whisper_tune.whisper_constants import SAMPLE_RATE
from whisper_tune.whispercpp.prompt import MAX_PROMPT_TOKENS, tokenize
from whisper_tune.whispercpp.suppress import non_speech_ids

#: FUTO Keyboard decodes without timestamps below 25 s, FUTO Voice Input up to 30 s.
SAMPLES_25_S = SAMPLE_RATE * 25
SAMPLES_30_S = SAMPLE_RATE * 30
#: whisper.cpp's defaults, which FUTO's apps leave as they are.
DEFAULT_ENTROPY_THOLD = 2.4
DEFAULT_LOGPROB_THOLD = -1.0
DEFAULT_NO_SPEECH_THOLD = 0.6

#: The runtimes a verdict can be judged on: the names of
#: :class:`whisper_tune.whispercpp.runtimes.Runtime` ("current": whisper.cpp 1.8.5 through
#: pywhispercpp 1.5.1; "1.5": the generation FUTO's apps vendor) and of the user's own
#: :class:`whisper_tune.whispercpp.cli.WhisperCli` ("whisper-cli").
RuntimeName = Literal["current", "1.5", "whisper-cli"]
RUNTIME_NAMES: tuple[str, ...] = get_args(RuntimeName)
#: How a report names each runtime a client ships.
RUNTIME_LABELS: dict[str, str] = {
    "current": "a current whisper.cpp (1.8.5 here)",
    "1.5": "whisper.cpp 1.5",
    "whisper-cli": "the user's own whisper-cli build",
}
#: Where a runtime's verdict matters to a user whose client does not ship it.
RUNTIME_USES: dict[str, str] = {
    "current": "a current whisper.cpp, e.g. whisper-cli on a desktop",
    "1.5": "an app that vendors whisper.cpp 1.5, e.g. FUTO Keyboard or FUTO Voice Input",
    "whisper-cli": "that whisper-cli build",
}


@dataclass(frozen=True)
class DeploymentPreset:
    """whisper_full parameters of one client, as it sets them, and the whisper.cpp it ships."""

    name: str
    client: str  # the app or tool, as reports name it ("FUTO Keyboard")
    description: str
    #: The runtimes the client runs the file in: their verdicts decide ``verify --as``'s; any
    #: other runtime run is judged as advice. FUTO's apps: ("1.5",); whisper-cli: a current
    #: whisper.cpp or the user's build.
    shipped_runtimes: tuple[RuntimeName, ...]
    beam_size: int  # 1 = greedy
    audio_ctx: str  # a context choice of whisper_tune.evaluation.contexts (futo, futo+N, full)
    timestamps_from_samples: int | None  # clips this long or longer keep timestamps; None = never
    max_tokens: int  # whisper.cpp's max_tokens (0 = none: the 220-step limit applies)
    suppress_blank: bool
    suppress_non_speech: bool  # whisper.cpp's suppress_nst
    temperature_inc: float  # 0 = no fallback
    #: whisper.cpp 1.8.5's flash attention (the 1.5 runtime, pywhispercpp 1.2.0, has none). Off
    #: for FUTO's apps: they use flash attention for the encoder's self-attention only, and their
    #: cross-attention reads exactly audio_ctx rows, which is 1.8.5 with flash attention off.
    flash_attn: bool
    glossary_prompt: bool  # the prompt is "(Glossary: ...)" built from --glossary
    entropy_thold: float = DEFAULT_ENTROPY_THOLD
    logprob_thold: float = DEFAULT_LOGPROB_THOLD
    no_speech_thold: float = DEFAULT_NO_SPEECH_THOLD

    def __post_init__(self) -> None:
        unknown = [name for name in self.shipped_runtimes if name not in RUNTIME_NAMES]
        if not self.shipped_runtimes or unknown:
            raise ConfigError(f"preset {self.name!r}: shipped_runtimes {list(self.shipped_runtimes)!r} must name at "
                              f"least one runtime, each one of {', '.join(RUNTIME_NAMES)}")

    def to_dict(self) -> dict[str, object]:
        data = dict(self.__dict__)
        data["shipped_runtimes"] = list(self.shipped_runtimes)
        return data

    def ships(self, runtime_name: str) -> bool:
        """Whether the client runs the file in the runtime of this name."""
        return runtime_name in self.shipped_runtimes

    def shipped_description(self) -> str:
        """'FUTO Keyboard ships whisper.cpp 1.5', for reports."""
        return f"{self.client} ships " + " or ".join(RUNTIME_LABELS[name] for name in self.shipped_runtimes)

    def options(self, prompt: str = "", suppress_ids: Sequence[int] = (), beam_size: int | None = None,
                language: str | None = None) -> DecodeOptions:
        """The decoding options; ``suppress_ids`` is whisper.cpp's non-speech set for the file."""
        return DecodeOptions(
            language=language,
            beam_size=beam_size or self.beam_size,
            max_tokens=self.max_tokens or 10_000,  # 0 in whisper.cpp: only its step limit
            raw_max_tokens=True,
            prompt=prompt,
            suppress_blank=self.suppress_blank,
            suppress_tokens=tuple(suppress_ids) if self.suppress_non_speech else (),
            entropy_thold=self.entropy_thold,
            logprob_thold=self.logprob_thold,
            no_speech_thold=self.no_speech_thold,
            temperature_inc=self.temperature_inc,
        )

    def contexts(self, clips: Sequence[np.ndarray]) -> list[int | None]:
        return contexts_for(clips, self.audio_ctx)

    def no_timestamps(self, clips: Sequence[np.ndarray]) -> list[bool]:
        limit = self.timestamps_from_samples
        return [limit is None or len(clip) < limit for clip in clips]


PRESETS: dict[str, DeploymentPreset] = {
    "futo-keyboard": DeploymentPreset(
        name="futo-keyboard", client="FUTO Keyboard", shipped_runtimes=("1.5",),
        description="FUTO Keyboard's voice input: beam 5, audio_ctx ceil(samples/320)+32 with a floor of 160",
        beam_size=5, audio_ctx="futo", timestamps_from_samples=SAMPLES_25_S, max_tokens=256,
        suppress_blank=False, suppress_non_speech=True, temperature_inc=0.0, flash_attn=False,
        glossary_prompt=True,
    ),
    "futo-voice": DeploymentPreset(
        name="futo-voice", client="FUTO Voice Input", shipped_runtimes=("1.5",),
        description="FUTO Voice Input: the user picks greedy or beam (greedy here; --beam-size 5 for beam), "
                    "audio_ctx ceil(samples/320)+32 without the floor",
        beam_size=1, audio_ctx="futo+32", timestamps_from_samples=SAMPLES_30_S + 1, max_tokens=256,
        suppress_blank=False, suppress_non_speech=True, temperature_inc=0.0, flash_attn=False,
        glossary_prompt=True,
    ),
    "whisper-cli": DeploymentPreset(
        name="whisper-cli", client="whisper-cli", shipped_runtimes=("current", "whisper-cli"),
        description="whisper.cpp 1.8.5's whisper-cli defaults with -nt: beam 5, full context, temperature "
                    "fallback 0.2, flash attention",
        beam_size=5, audio_ctx="full", timestamps_from_samples=None, max_tokens=0,
        suppress_blank=True, suppress_non_speech=False, temperature_inc=0.2, flash_attn=True,
        glossary_prompt=False,
    ),
}


def get_preset(name: str) -> DeploymentPreset:
    if name not in PRESETS:
        raise ConfigError(f"unknown deployment preset {name!r}; expected one of {', '.join(PRESETS)}")
    return PRESETS[name]


def read_glossary(path: str | os.PathLike[str]) -> list[str]:
    """Terms, one per line, in the demo's term-list format (blank lines and # comments skipped,
    duplicates and an empty list refused with a DataError)."""
    return read_terms(path)


def glossary_prompt(terms: Sequence[str]) -> str:
    """FUTO's initial prompt for a personal dictionary."""
    return "(Glossary: " + ", ".join(terms) + ")"


def check_prompt(prompt: str, vocab: Sequence[bytes], what: str = "the prompt") -> int:
    """The prompt's token count as whisper.cpp tokenizes it; ConfigError past 224 tokens."""
    count = len(tokenize(vocab, prompt))
    if count > MAX_PROMPT_TOKENS:
        raise ConfigError(
            f"{what} is {count} tokens long; whisper.cpp keeps only the last {MAX_PROMPT_TOKENS} of a prompt, "
            "so the first terms would be dropped without a word: shorten it"
        )
    return count


def resolve_prompt(glossary: str | os.PathLike[str] | None = None, prompt: str | None = None) -> str:
    """The prompt from ``--glossary FILE`` (FUTO's form) or ``--prompt TEXT``; "" without either."""
    if glossary and prompt:
        raise ConfigError("give either a glossary (--glossary) or a prompt (--prompt), not both")
    if glossary:
        return glossary_prompt(read_glossary(glossary))
    if prompt is not None and not prompt.strip():
        raise ConfigError("the prompt is empty; give some text, or leave --prompt out")
    return prompt or ""


def model_vocab(model_spec: str | os.PathLike[str], backend: str) -> list[bytes]:
    """The text vocabulary as raw bytes: a GGML file's, or an HF model's tokenizer's."""
    if backend == "whispercpp":
        return list(read_ggml(model_spec).vocab)
    from whisper_tune.transcribe.hf import text_vocab

    return text_vocab(load_processor(model_spec).tokenizer)


def deployment_options(preset: DeploymentPreset | None, model_spec: str | os.PathLike[str], backend: str,
                       prompt: str = "", beam_size: int | None = None, language: str | None = None) -> DecodeOptions:
    """Decoding options for eval: the preset's (with the model's non-speech set) or plain ones.

    The prompt is checked against whisper.cpp's 224-token limit with the model's vocabulary.
    """
    vocab = model_vocab(model_spec, backend) if (preset is not None or prompt) else []
    if prompt:
        check_prompt(prompt, vocab)
    if preset is None:
        return DecodeOptions(language=language, beam_size=beam_size or 1, prompt=prompt)
    return preset.options(prompt, sorted(non_speech_ids(vocab)), beam_size, language)
