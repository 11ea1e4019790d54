"""Arguments shared by the config-driven commands (``train``, ``acft``)."""

from __future__ import annotations

import argparse


def add_run_config_arguments(parser: argparse.ArgumentParser, config_kind: str, override_example: str) -> None:
    """``--config FILE``, ``KEY=VALUE`` overrides and ``--resume``, worded for ``config_kind``."""
    parser.add_argument("--config", metavar="FILE", default=None,
                        help=f"{config_kind} config (.yaml, .yml or .json); without one, the defaults plus overrides")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help=f"override config keys, e.g. {override_example}")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the latest checkpoint in output_dir (same as resume=auto)")


def collected_overrides(args: argparse.Namespace, **flags: str) -> list[str]:
    """The user's overrides plus those implied by flags: ``--resume`` and each ``flags`` name set."""
    overrides = list(args.overrides)
    if args.resume:
        overrides.append("resume=auto")
    overrides.extend(override for name, override in flags.items() if getattr(args, name))
    return overrides


def add_cloud_arguments(parser: argparse.ArgumentParser) -> None:
    """``--cloud modal`` and its options: the same run on a rented GPU (docs/CLOUD.md)."""
    from whisper_tune.cloud.layout import DEFAULT_GPU, DEFAULT_SECRET, GPUS, SECRET_KEY

    group = parser.add_argument_group("cloud (docs/CLOUD.md; needs pip install 'whisper-tune[cloud]')")
    group.add_argument("--cloud", choices=("modal",), default=None,
                       help="run on Modal: data and model uploaded to a Volume once, the log streamed here, "
                            "output_dir downloaded at the end")
    group.add_argument("--gpu", choices=tuple(GPUS), default=DEFAULT_GPU, help=f"GPU type (default {DEFAULT_GPU})")
    group.add_argument("--timeout", default="4h", metavar="DURATION",
                       help="limit of one attempt, e.g. 90m or 6h (default 4h, at most 24h); a timed-out "
                            "attempt is retried from its last checkpoint")
    group.add_argument("--secret", default=DEFAULT_SECRET, metavar="NAME",
                       help=f"Modal secret holding {SECRET_KEY} (default {DEFAULT_SECRET})")
    group.add_argument("--dry-run", action="store_true",
                       help="print the plan (GPU, image, Volume paths, uploads, what comes back) and stop")


def run_cloud(kind: str, config: object, args: argparse.Namespace) -> int:
    """Hand a loaded config to the cloud runner; prints what a local run prints."""
    from whisper_tune.cloud.layout import CloudOptions, parse_duration
    from whisper_tune.cloud.submit import format_summary, submit

    options = CloudOptions(provider=args.cloud, gpu=args.gpu, timeout_seconds=parse_duration(args.timeout),
                           secret=args.secret, dry_run=args.dry_run)
    summary = submit(kind, config, options)
    if summary is not None:
        print(format_summary(summary, config.output_dir))  # type: ignore[attr-defined]
    return 0
