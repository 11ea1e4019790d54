"""``whisper-tune import-ct2``: rebuild a CTranslate2 Whisper model as an HF folder."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import-ct2",
        help="rebuild a CTranslate2 Whisper model (model.bin) as a Hugging Face model folder",
        description=(
            "Rebuild a CTranslate2 Whisper folder (model.bin, config.json, tokenizer.json) as a "
            "complete Hugging Face model folder: config, generation config, tokenizer files, "
            "feature extractor and safetensors weights in the checkpoint's dtype."
        ),
    )
    parser.add_argument("ct2_dir", metavar="CT2_DIR", help="folder holding model.bin")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to write (replaced atomically if it exists)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from whisper_tune.models.ct2_import import import_ct2

    out = import_ct2(args.ct2_dir, args.out_dir)
    print(out)
    return 0
