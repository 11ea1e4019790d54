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
