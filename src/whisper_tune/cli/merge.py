"""``whisper-tune merge``: merge a PEFT adapter into its base as a complete model folder."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "merge",
        help="merge a LoRA/DoRA/PiSSA adapter into its base model as a complete HF folder",
        description=(
            "Merge the PEFT adapter in ADAPTER_DIR (LoRA, DoRA, or PiSSA saved converted to LoRA) into "
            "its base model (base_model_name_or_path in adapter_config.json, or --base) and write a "
            "complete Hugging Face model folder with float32 weights and the base's tokenizer files. "
            "An unconverted PiSSA adapter is refused: it only fits the residual base it was trained on."
        ),
    )
    parser.add_argument("adapter_dir", metavar="ADAPTER_DIR", help="folder with adapter_config.json")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to write (replaced atomically if it exists)")
    parser.add_argument("--base", metavar="MODEL", help="base model spec, instead of the one the adapter names")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from whisper_tune.merge import merge_adapter

    print(merge_adapter(args.adapter_dir, args.out_dir, base=args.base))
    return 0
