"""The Modal app of whisper-tune: ``modal run`` and ``modal deploy`` accept this file as it is.

    modal run src/whisper_tune/cloud/modal_app.py::base_en_acft_app --data hf:me/my-clips --push-to-hub me/base-en-acft
    modal run -m whisper_tune.cloud.modal_app::small_train_app --data data/train.csv --validation data/val.csv
    modal deploy src/whisper_tune/cloud/modal_app.py

* ``run_job``: the function (GPU, Volume at /whisper-tune, the ``huggingface-token`` secret,
  retries). Its body is :func:`whisper_tune.cloud.job.run_job`: the unchanged train/ACFT run.
* ``<size>_acft_app`` and ``<size>_train_app``, one per Whisper size (tiny, base, small,
  medium with and without ``.en``; large-v3, large-v3-turbo): local entrypoints that stage
  the data, run the job, stream its log and download its output, like ``whisper-tune acft
  --cloud modal``. Options: ``--data`` (manifest, saved dataset folder or hf:OWNER/NAME[@SPLIT]),
  ``--validation``, ``--model``, ``--push-to-hub``, ``--output-dir``, ``--max-steps``,
  ``--epochs``, ``--gpu``, ``--overrides "key=value ..."``, ``--dry-run``.

The image holds this machine's Python and pinned dependency versions
(:mod:`whisper_tune.cloud.image`) and whisper-tune's source; nothing is installed at run time.
"""

from __future__ import annotations

import sys
from typing import Any

import modal

from whisper_tune.cli.main import configure_logging
from whisper_tune.cloud import layout
from whisper_tune.cloud.image import image_requirements, python_version
from whisper_tune.cloud.job import run_job as body
from whisper_tune.cloud.presets import PRESETS
from whisper_tune.cloud.submit import submit_preset

app = modal.App(layout.APP_NAME)

image = (
    modal.Image.debian_slim(python_version=python_version())
    .pip_install(*image_requirements())
    .env({
        "WHISPER_TUNE_CACHE": f"{layout.MOUNT}/{layout.CACHE_DIR}",
        "HF_HOME": f"{layout.MOUNT}/{layout.HF_HOME_DIR}",
        "PYTHONUNBUFFERED": "1",
        "TOKENIZERS_PARALLELISM": "false",
    })
    .add_local_python_source("whisper_tune")
)

volume = modal.Volume.from_name(layout.VOLUME_NAME, create_if_missing=True)


def secret(name: str = layout.DEFAULT_SECRET) -> modal.Secret:
    """The Modal secret holding the Hugging Face token under HF_TOKEN."""
    return modal.Secret.from_name(name, required_keys=[layout.SECRET_KEY])


@app.function(
    image=image,
    gpu=layout.DEFAULT_GPU,
    timeout=layout.DEFAULT_TIMEOUT_SECONDS,
    volumes={layout.MOUNT: volume},
    secrets=[secret()],
    retries=modal.Retries(max_retries=layout.DEFAULT_RETRIES, initial_delay=10.0, backoff_coefficient=1.0),
)
def run_job(spec: dict[str, Any], root: str = layout.MOUNT) -> dict[str, Any]:
    """Run a staged train/ACFT job (see whisper_tune.cloud.job); the Volume is committed at the end."""
    configure_logging(verbose=0, quiet=False)
    try:
        return body(spec, root)
    finally:
        if not modal.is_local():  # in the container: make the run's files visible to the client now
            volume.commit()


def _entry(size: str, kind: str):
    def entry(data: str, validation: str = "", model: str = "", push_to_hub: str = "", output_dir: str = "",
              max_steps: int = 0, epochs: int = 0, gpu: str = "", timeout: str = "",
              secret_name: str = layout.DEFAULT_SECRET, overrides: str = "", dry_run: bool = False) -> None:
        # This module as `modal run` imported it (maybe by file name): its app is the running one.
        submit_preset(sys.modules[__name__], size, kind, data=data, validation=validation, model=model,
                      push_to_hub=push_to_hub, output_dir=output_dir, max_steps=max_steps, epochs=epochs, gpu=gpu,
                      timeout=timeout, secret=secret_name, overrides=overrides.split(), dry_run=dry_run)

    entry.__doc__ = f"{kind} Whisper {size} on Modal (preset: whisper_tune.cloud.presets)."
    return entry


def _module_level(name: str, function: Any) -> Any:
    """Name ``function`` as the module attribute it becomes, which Modal requires of an entrypoint."""
    function.__name__ = function.__qualname__ = name
    return function


#: Names of the per-size entries, e.g. base_en_acft_app, large_v3_turbo_train_app.
ENTRY_NAMES: list[str] = []
for _preset in PRESETS.values():
    for _kind in ("acft", "train"):
        _name = f"{_preset.entry_stem}_{_kind}_app"
        globals()[_name] = app.local_entrypoint(name=_name)(_module_level(_name, _entry(_preset.size, _kind)))
        ENTRY_NAMES.append(_name)
