"""``whisper-tune train``: fine-tune a model (LoRA, DoRA, PiSSA or full) from a config file."""

from __future__ import annotations

import argparse

from whisper_tune.cli.run_config import (
    add_cloud_arguments,
    add_run_config_arguments,
    collected_overrides,
    run_cloud,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="fine-tune a model on a manifest (lora, dora, pissa or full) from a config file",
        description=(
            "Fine-tune a Whisper model from a YAML/JSON config (see configs/ and `whisper-tune config "
            "show`), with key=value overrides. Writes the adapter or model (best/ and last/), resumable "
            "checkpoints, metrics.jsonl, loss and WER plots and summary.md into output_dir. Runs on "
            "several GPUs or machines with `accelerate launch -m whisper_tune.cli.main train ...`."
        ),
        epilog="example: whisper-tune train --config configs/tiny_lora.yaml train_manifest=data/train.csv "
               "validation_manifest=data/val.csv max_steps=300",
    )
    add_run_config_arguments(parser, "training", "learning_rate=3e-4 lora.rank=16 method=dora")
    parser.add_argument("--merge", action="store_true",
                        help="also write the adapter merged into its base model to output_dir/merged")
    add_cloud_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from whisper_tune.training.config import load_train_config
    from whisper_tune.training.recipe import train

    config = load_train_config(args.config, collected_overrides(args, merge="merge=true"))
    if args.cloud:
        return run_cloud("train", config, args)
    result = train(config)
    if _is_main_process():
        _print_result(result)
        _push(config, result.merged_dir or result.model_dir)
    return 0


def _push(config, model_dir) -> None:
    if config.push_to_hub:
        from whisper_tune.hub.push import push_model

        print(f"pushed: {push_model(model_dir, config.push_to_hub, private=config.hub_private).url}")


def _is_main_process() -> bool:
    from accelerate.state import PartialState

    return PartialState().is_main_process


def _print_result(result) -> None:
    print(f"trained {result.steps} steps; final loss {result.final_loss:.4f}" if result.final_loss is not None
          else f"trained {result.steps} steps")
    for key, before in result.baseline.items():
        print(f"{key}: {before:.4f} -> {result.final.get(key, float('nan')):.4f}")
    print(f"model: {result.model_dir}")
    if result.merged_dir is not None:
        print(f"merged: {result.merged_dir}")
