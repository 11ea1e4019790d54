"""What ``train``/``acft --cloud modal`` and the Modal app's entries call.

:func:`submit` stages the job (:mod:`whisper_tune.cloud.staging`), prints the plan and stops
there with ``dry_run``; otherwise it checks for a Modal token before touching the network,
starts the app with Modal's output enabled (the job's log streams to this terminal), uploads
what the Volume lacks, runs the job on the chosen GPU and downloads the run folder
(checkpoints stay on the Volume) into the local ``output_dir``.

:func:`run_on_directory` does the same with a local folder as the Volume and the function
body run in this process through Modal's ``.local()``: tests and ``bench/cloud_local.py``.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from whisper_tune.acft.config import load_acft_config
from whisper_tune.cloud import layout
from whisper_tune.cloud.image import image_requirements, python_version
from whisper_tune.cloud.job import run_job
from whisper_tune.cloud.presets import preset
from whisper_tune.cloud.staging import StagedJob, stage_job
from whisper_tune.cloud.volume_io import (
    DirectoryVolume,
    download_run,
    missing_uploads,
    upload,
)
from whisper_tune.errors import CloudError, WhisperTuneError
from whisper_tune.extras import require
from whisper_tune.fileio import describe_size
from whisper_tune.training.config import load_train_config

log = logging.getLogger(__name__)

_TOKEN_HELP = ("run `modal token new` (or `modal setup`), or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET")


def submit(kind: str, config: Any, options: layout.CloudOptions) -> dict[str, Any] | None:
    """Run ``config`` on Modal; returns the job's summary (None for a dry run)."""
    modal = require("modal", "`provider` modal")
    with tempfile.TemporaryDirectory(prefix="whisper-tune-cloud-") as staging:
        staged = stage_job(kind, config, Path(staging))
        if options.dry_run:
            print(plan_text(staged, options, config))
            return None
        check_credentials()
        for line in plan_text(staged, options, config).splitlines():
            log.info("%s", line)
        from whisper_tune.cloud import modal_app

        with modal_errors(options.secret), modal.enable_output(), modal_app.app.run():
            return execute(modal_app, staged, options)


def execute(modal_app: Any, staged: StagedJob, options: layout.CloudOptions) -> dict[str, Any]:
    """Inside a running app: upload what is missing, run the job, download its folder."""
    volume = modal_app.volume
    missing = missing_uploads(volume, staged.uploads)
    log.info("uploading %d new files (%s); %d already on the Volume", len(missing),
             describe_size(sum(u.size for u in missing)), len(staged.uploads) - len(missing))
    upload(volume, missing)
    function = modal_app.run_job.with_options(
        gpu=options.gpu, timeout=options.timeout_seconds,
        secrets=[modal_app.secret(options.secret)] if options.secret else [],
        retries=options.retries,
    )
    summary = function.remote(staged.spec)
    download_run(volume, staged.run, staged.local_output)
    return summary


def run_on_directory(kind: str, config: Any, volume_root: Path, through_modal: bool = True) -> dict[str, Any]:
    """The cloud path with a local folder as the Volume and the function run in this process:
    through Modal's ``.local()`` (the default), or the body itself where modal is not installed."""
    volume = DirectoryVolume(volume_root)
    with tempfile.TemporaryDirectory(prefix="whisper-tune-cloud-") as staging:
        staged = stage_job(kind, config, Path(staging))
        upload(volume, missing_uploads(volume, staged.uploads))
    if through_modal:
        require("modal", "running the Modal function body")
        from whisper_tune.cloud import modal_app

        summary = modal_app.run_job.local(staged.spec, str(volume_root))
    else:
        summary = run_job(staged.spec, volume_root)
    download_run(volume, staged.run, staged.local_output)
    return summary


def check_credentials() -> None:
    """A Modal token must be configured before anything goes over the network."""
    from modal.config import config

    if config.get("token_id") and config.get("token_secret"):
        return
    raise CloudError(f"no Modal token is configured; {_TOKEN_HELP}")


@contextlib.contextmanager
def modal_errors(secret: str | None) -> Iterator[None]:
    """Modal's failures as one-line :class:`CloudError` messages (no traceback, no token)."""
    import modal.exception as errors

    try:
        yield
    except WhisperTuneError:
        raise
    except errors.AuthError as exc:
        raise CloudError(f"Modal refused the token ({_first_line(exc)}); {_TOKEN_HELP}") from None
    except errors.NotFoundError as exc:
        text = _first_line(exc)
        if secret and ("secret" in text.lower() or secret in text):
            raise CloudError(
                f"the Modal secret {secret!r} does not exist in your workspace; create it with "
                f"`modal secret create {secret} {layout.SECRET_KEY}=<your Hugging Face token>`, or name "
                "another with --secret") from None
        raise CloudError(f"Modal could not find something the run needs: {text}") from None
    except (errors.ConnectionError, ConnectionError, OSError, TimeoutError) as exc:
        raise CloudError(f"cannot reach Modal ({_first_line(exc) or type(exc).__name__}); check the "
                         "network connection and try again") from None
    except errors.Error as exc:
        raise CloudError(f"Modal: {type(exc).__name__}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def plan_text(staged: StagedJob, options: layout.CloudOptions, config: Any) -> str:
    """The plan: GPU, image, Volume paths, uploads and their size, what comes back."""
    requirements = image_requirements()
    torch_pin = next((r for r in requirements if r.startswith("torch")), "torch")
    mount = layout.MOUNT
    dry = " (dry run: nothing uploaded or started)" if options.dry_run else ""
    secret = f"{options.secret} ({layout.SECRET_KEY})" if options.secret else "none"
    lines = [
        f"whisper-tune {staged.kind} on Modal{dry}",
        (f"  gpu:        {options.gpu} ({layout.GPUS[options.gpu]} GB), timeout {_hours(options.timeout_seconds)}, "
         f"{options.retries} retries, each resuming from the last checkpoint"),
        (f"  image:      debian-slim, Python {python_version()}, {torch_pin} (CUDA wheel from PyPI) and "
         f"{len(requirements) - 1} more packages (pinned to the versions installed here), whisper_tune's source"),
        f"  secret:     {secret}",
        f"  volume:     {layout.VOLUME_NAME} at {mount}",
        (f"  run folder: {mount}/{staged.spec['volume_paths']['output_dir']} (checkpoints every "
         f"{staged.spec['config']['save_every']} steps, resume=auto)"),
    ]
    lines += [f"  {key + ':':<11} {text}" for key, text in staged.inputs.items()]
    clips = sum(1 for u in staged.uploads if u.remote.startswith(layout.AUDIO_DIR))
    lines.append(f"  upload:     {len(staged.uploads)} files, {describe_size(staged.upload_bytes)} at most "
                 f"({clips} clips as {mount}/{layout.AUDIO_DIR}/<sha256>.<ext>; files already there are skipped)")
    back = f"{mount}/{layout.run_folder(staged.run)}/"
    lines.append(f"  comes back: {back} without checkpoints/ -> {staged.local_output}")
    if getattr(config, "push_to_hub", None):
        lines.append(f"  push:       {config.push_to_hub} ({'private' if config.hub_private else 'public'}), "
                     "from the cloud with the secret's token")
    return "\n".join(lines)


def _hours(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60:02d} min"


def submit_preset(modal_app: Any, size: str, kind: str, *, data: str, validation: str = "", model: str = "",
                  push_to_hub: str = "", output_dir: str = "", max_steps: int = 0, epochs: int = 0, gpu: str = "",
                  timeout: str = "", secret: str = layout.DEFAULT_SECRET, overrides: Sequence[str] = (),
                  dry_run: bool = False) -> None:
    """A Modal app entry (``modal run ...::base_en_acft_app``) inside the running ``modal_app``:
    the preset, the options, then upload, run and download as :func:`submit` does."""
    try:
        chosen = preset(size)
        items = [*chosen.overrides(kind), f"train_manifest={data}"]
        evaluation_key = "validation_manifest" if kind == "train" else "eval_manifest"
        optional = {"model": model, evaluation_key: validation, "push_to_hub": push_to_hub,
                    "output_dir": output_dir, "max_steps": max_steps or "", "epochs": epochs or ""}
        items += [f"{key}={value}" for key, value in optional.items() if value != ""]
        config = _load(kind, [*items, *overrides])
        options = layout.CloudOptions(gpu=gpu or chosen.gpu, secret=secret or None, dry_run=dry_run,
                                      timeout_seconds=layout.parse_duration(timeout) if timeout
                                      else layout.DEFAULT_TIMEOUT_SECONDS)
        if dry_run:
            with tempfile.TemporaryDirectory(prefix="whisper-tune-cloud-") as staging:
                print(plan_text(stage_job(kind, config, Path(staging)), options, config))
            return
        with modal_errors(options.secret), tempfile.TemporaryDirectory(prefix="whisper-tune-cloud-") as staging:
            summary = execute(modal_app, stage_job(kind, config, Path(staging)), options)
        print(format_summary(summary, config.output_dir))
    except WhisperTuneError as exc:
        print(f"error: {exc}")
        raise SystemExit(exc.exit_code) from None


def _load(kind: str, overrides: list[str]) -> Any:
    if kind == "acft":
        return load_acft_config(None, overrides)
    return load_train_config(None, overrides)


def format_summary(summary: dict[str, Any], output_dir: Path) -> str:
    """The lines a local run prints, for a finished cloud run."""
    loss = summary.get("final_loss")
    lines = [f"{summary['kind']} on Modal: {summary['steps']} steps; final loss "
             + (f"{loss:.4f}" if loss is not None else "-")]
    for key, before in summary.get("baseline", {}).items():
        lines.append(f"{key}: {before:.4f} -> {summary.get('final', {}).get(key, float('nan')):.4f}")
    lines.append(f"model: {Path(output_dir) / summary['model_dir']}")
    if summary.get("merged_dir"):
        lines.append(f"merged: {Path(output_dir) / summary['merged_dir']}")
    if summary.get("pushed"):
        lines.append(f"pushed: {summary['pushed']}")
    lines.append(f"run on the Volume: {layout.VOLUME_NAME}:/{layout.run_folder(summary['run'])}")
    return "\n".join(lines)
