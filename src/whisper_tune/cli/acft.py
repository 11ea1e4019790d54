"""``whisper-tune acft``: FUTO's audio-context fine-tuning, so a model stays sane in whisper.cpp
with a shortened audio_ctx (FUTO Voice Input, FUTO Keyboard)."""

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
        "acft",
        help="audio-context fine-tuning (FUTO): keep a model from looping at a short audio_ctx",
        description=(
            "Distil a model into itself so that it transcribes with a short encoder context "
            "(whisper.cpp's audio_ctx, as FUTO's apps set it from the clip length) as it does on "
            "the full 30 s: a frozen copy runs the full encoder, the trained copy the shortened "
            "one, and the loss is the MSE between all their decoder hidden states. Run it AFTER "
            "`whisper-tune train`, on its output. Writes output_dir/last (or best/ with an "
            "eval_manifest): a complete model folder marked as ACFT in config.json, so `export "
            "--futo-name` names it like tiny_en_acft_q8_0.bin. FUTO's defaults: every parameter, "
            "Adam, learning rate 1e-6, 8 epochs, clips up to 29 s. See docs/ACFT.md."
        ),
        epilog="example: whisper-tune acft --config configs/acft_tiny.yaml model=runs/train/best "
               "train_manifest=data/acft.csv",
    )
    add_run_config_arguments(parser, "ACFT", "model=runs/train/best epochs=2 method=lora")
    add_cloud_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from whisper_tune.acft.config import load_acft_config
    from whisper_tune.acft.runner import run_acft

    config = load_acft_config(args.config, collected_overrides(args))
    if args.cloud:
        return run_cloud("acft", config, args)
    result = run_acft(config)
    print(f"ACFT: {result.steps} steps in {result.seconds:.0f} s; final loss "
          + (f"{result.final_loss:.4f}" if result.final_loss is not None else "-"))
    if result.skipped_clips:
        print(f"skipped {result.skipped_clips} clips longer than {config.max_clip_seconds} s")
    for key, before in result.baseline.items():
        print(f"{key}: {before:.4f} -> {result.final.get(key, float('nan')):.4f}")
    print(f"model: {result.model_dir}")
    if config.push_to_hub:
        from whisper_tune.hub.push import push_model

        print(f"pushed: {push_model(result.model_dir, config.push_to_hub, private=config.hub_private).url}")
    return 0
