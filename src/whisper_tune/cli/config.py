"""``whisper-tune config show``: print a config merged with overrides, as it will be used."""

from __future__ import annotations

import argparse

from whisper_tune.errors import ConfigError

#: --kind -> (module, config class, loader function taking (path, overrides)).
KINDS: dict[str, tuple[str, str, str]] = {
    "train": ("whisper_tune.training.config", "TrainConfig", "load_train_config"),
    "acft": ("whisper_tune.acft.config", "AcftConfig", "load_acft_config"),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "config",
        help="show a training/ACFT config merged with overrides, or list every key",
        description="Work with training and ACFT configs.",
    )
    parser.set_defaults(handler=lambda _args: _usage(parser))
    actions = parser.add_subparsers(dest="config_action", metavar="ACTION", title="actions")
    show = actions.add_parser(
        "show",
        help="print the merged, validated config as YAML",
        description=("Load FILE (YAML or JSON), apply key=value overrides, check every key and value, "
                     "and print the result as YAML (what `train`/`acft` will use). Without FILE: the defaults."),
    )
    show.add_argument("file", nargs="?", metavar="FILE", default=None, help="config file (.yaml, .yml, .json)")
    show.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides, e.g. lora.rank=16")
    show.add_argument("--kind", choices=sorted(KINDS), default="train", help="config type (default: train)")
    show.set_defaults(handler=run_show)
    keys = actions.add_parser("keys", help="list every key with its type, default and meaning",
                              description="List every config key with its type, default and documentation.")
    keys.add_argument("--kind", choices=sorted(KINDS), default="train", help="config type (default: train)")
    keys.set_defaults(handler=run_keys)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _member(kind: str, which: int):
    import importlib


    module_name = KINDS[kind][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"--kind {kind}: {module_name} is not installed in this version") from exc
    return getattr(module, KINDS[kind][which])


def run_show(args: argparse.Namespace) -> int:
    from whisper_tune.config import dump_yaml

    file = args.file
    overrides = list(args.overrides)
    if file is not None and "=" in file:  # `config show key=value` without a file
        overrides.insert(0, file)
        file = None
    print(dump_yaml(_member(args.kind, 2)(file, overrides)), end="")
    return 0


def run_keys(args: argparse.Namespace) -> int:
    from whisper_tune.config import describe

    for key, type_name, default, text in describe(_member(args.kind, 1)):
        print(f"{key} ({type_name}, default {default}): {text}")
    return 0
