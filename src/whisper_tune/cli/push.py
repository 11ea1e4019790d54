"""``whisper-tune push``: a finished model to a Hugging Face Hub repo, with a model card."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "push",
        help="push a model (or run folder) to a private Hugging Face Hub repo with a model card",
        description=(
            "Upload a finished model to the Hugging Face Hub in one commit: safetensors, config.json, "
            "generation_config.json with the language and task, tokenizer and preprocessor files, the GGML "
            "files exported into the folder (or given with --ggml) and a model card written from the run's "
            "own reports (base model, data, hyperparameters, WER before and after at the full and at FUTO's "
            "context, the verify verdict, ACFT or not, use in whisper.cpp and FUTO). FOLDER is a model "
            "folder (runs/x/last), an adapter (merged first) or a run folder (runs/x: merged/, best/ or "
            "last/). The token comes from HF_TOKEN or `hf auth login` and is never printed or written."
        ),
        epilog="example: whisper-tune push runs/base_en_acft me/whisper-base-en-acft "
               "--ggml phone/base_en_acft_q8_0.bin",
    )
    parser.add_argument("folder", metavar="FOLDER", help="model, adapter or run folder")
    parser.add_argument("repo", metavar="OWNER/NAME", help="Hub repo id (created if missing)")
    parser.add_argument("--public", action="store_true", help="create the repo public (default: private)")
    parser.add_argument("--ggml", nargs="+", default=[], metavar="FILE", help="GGML files to include")
    parser.add_argument("--language", default=None,
                        help="language code saved in generation_config.json (multilingual models; default: the run's)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from whisper_tune.hub.push import push_model

    result = push_model(args.folder, args.repo, private=not args.public, ggml_files=args.ggml,
                        language=args.language)
    print(f"pushed {len(result.files)} files to {result.repo_id} ({'private' if result.private else 'public'}): "
          f"{result.url}")
    for name in result.files:
        print(f"  {name}")
    return 0
