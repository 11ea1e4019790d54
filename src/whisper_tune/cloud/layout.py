"""Where things live on the cloud Volume, which GPUs can be asked for, and the job options.

One Modal Volume (``whisper-tune``) mounted at :data:`MOUNT` holds::

    data/audio/<sha256>.<ext>     each uploaded clip, named by its content
    data/manifests/<sha256>.csv   each uploaded manifest (audio paths ../audio/...)
    models/<sha256>/              each uploaded local model folder
    runs/<run>/                   a run's output_dir: checkpoints, best/, last/, metrics ...
    cache/                        WHISPER_TUNE_CACHE (features, rebuilt models, Hub datasets)
    cache/huggingface/            HF_HOME (Hub models and datasets downloaded once)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from whisper_tune.errors import ConfigError

APP_NAME = "whisper-tune"
VOLUME_NAME = "whisper-tune"
MOUNT = "/whisper-tune"
AUDIO_DIR = "data/audio"
MANIFEST_DIR = "data/manifests"
MODEL_DIR = "models"
RUNS_DIR = "runs"
CACHE_DIR = "cache"
HF_HOME_DIR = "cache/huggingface"
#: Folders of a run that stay on the Volume (resumable state), not downloaded.
KEPT_REMOTE = ("checkpoints",)

#: GPU names Modal accepts, with their memory in GB (what a config's batch size must fit).
GPUS: dict[str, int] = {"A100": 40, "A100-80GB": 80, "H100": 80, "L40S": 48, "L4": 24, "T4": 16}
DEFAULT_GPU = "A100"
DEFAULT_SECRET = "huggingface-token"
SECRET_KEY = "HF_TOKEN"
#: Modal's limit for one function call.
MAX_TIMEOUT_SECONDS = 24 * 3600
DEFAULT_TIMEOUT_SECONDS = 4 * 3600
#: How often Modal starts the function again after a preemption, a crash or a timeout; each
#: retry continues from the last checkpoint (resume=auto), so none starts from zero.
DEFAULT_RETRIES = 3
#: Cloud runs checkpoint at least this often (optimizer steps) when the config says only at
#: the end (save_every=0), so that a preempted run loses minutes, not the whole run.
CLOUD_SAVE_EVERY = 100


@dataclass(frozen=True)
class CloudOptions:
    """``--cloud``, ``--gpu``, ``--timeout``, ``--secret``, ``--dry-run`` of train and acft."""

    provider: str = "modal"
    gpu: str = DEFAULT_GPU
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    secret: str | None = DEFAULT_SECRET
    dry_run: bool = False
    retries: int = DEFAULT_RETRIES

    def __post_init__(self) -> None:
        if self.provider != "modal":
            raise ConfigError(f"`provider` {self.provider}: the only cloud supported is modal")
        if self.gpu not in GPUS:
            raise ConfigError(f"`gpu` {self.gpu}: expected one of {', '.join(GPUS)}")
        if not 60 <= self.timeout_seconds <= MAX_TIMEOUT_SECONDS:
            raise ConfigError(f"`timeout_seconds` {self.timeout_seconds} s: Modal allows 60 s to 24 h per call")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")


def parse_duration(text: str) -> int:
    """``"90m"``, ``"4h"``, ``"3600"`` or ``"3600s"`` -> seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"`timeout_seconds` {text!r}: expected seconds or a number with s, m or h (e.g. 4h, 90m)")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return round(value * {"s": 1, "m": 60, "h": 3600}[unit])


def run_folder(run: str) -> str:
    return f"{RUNS_DIR}/{run}"
