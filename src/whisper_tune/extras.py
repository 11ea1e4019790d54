"""Optional dependencies: import one, or say which pip command adds it.

The core install trains and exports; cloud runs and Hub pushes need the ``cloud`` extra
(``modal``, ``huggingface_hub``), Hub and saved datasets the ``datasets`` extra, and each
experiment tracker its own package.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from whisper_tune.errors import MissingDependencyError

#: Importable module -> the pip requirement that provides it.
PIP_REQUIREMENT: dict[str, str] = {
    "modal": "whisper-tune[cloud]",
    "huggingface_hub": "whisper-tune[cloud]",
    "datasets": "whisper-tune[datasets]",
    "tensorboard": "tensorboard",
    "wandb": "wandb",
    "trackio": "trackio",
}


def pip_command(module: str) -> str:
    """The command that installs ``module`` (quoted so that shells keep the brackets)."""
    return f"pip install '{PIP_REQUIREMENT.get(module, module)}'"


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the pip command."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the Python package {module!r}, which is not installed; run {pip_command(module)}"
        ) from exc


def available(module: str) -> bool:
    """True when ``module`` can be imported (without importing it twice if it already was)."""
    import importlib.util

    return importlib.util.find_spec(module) is not None
