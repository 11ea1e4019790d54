"""``whisper-tune export``: write a model as a whisper.cpp GGML file (f32, f16 or quantized)."""

from __future__ import annotations

import argparse

DTYPE_CHOICES = ("f32", "f16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a model (or adapter) to a whisper.cpp GGML file: f32, f16, q8_0 ... q4_0",
        description=(
            "Write MODEL as a whisper.cpp model file (the legacy GGML format whisper.cpp and FUTO Voice "
            "Input load). MODEL is a Hugging Face or CTranslate2 folder, embedded:tiny.en, a hub id, or a "
            "PEFT adapter folder (merged into its base first). Quantized files are byte-identical to "
            "whisper.cpp's whisper-quantize. A FILE.json sidecar records source, dtype, sha256 and sizes. "
            "Models whisper.cpp would misread (another vocabulary size, an untied output projection, "
            "non-finite weights, ...) are refused with the reason."
        ),
    )
    parser.add_argument("model", metavar="MODEL", help="model spec or adapter folder")
    parser.add_argument("--dtype", required=True, choices=DTYPE_CHOICES,
                        help="tensor type of the large weights (q8_0 is what FUTO ships; f16 is whisper.cpp's "
                             "default; whisper.cpp 1.8.5 aborts encoding an f32 file on a CPU)")
    parser.add_argument("--adapter", metavar="DIR", help="a PEFT adapter to merge into MODEL first")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", metavar="FILE",
                       help="output file, or an existing folder to put a named file in (see --name/--futo-name)")
    where.add_argument("--whisper-cpp-dir", metavar="DIR",
                       help="a whisper.cpp checkout: write DIR/models/ggml-NAME[-DTYPE].bin")
    naming = parser.add_mutually_exclusive_group()
    naming.add_argument("--name", metavar="NAME",
                        help="model name in the file name (default: from the model, e.g. tiny.en -> ggml-tiny.en.bin)")
    naming.add_argument("--futo-name", action="store_true",
                        help="name the file as FUTO names its models, e.g. tiny_en_acft_q8_0.bin")
    parser.add_argument("--no-sync", action="store_true",
                        help="do not fsync the GGML file before it is renamed into place. Where the file system "
                             "takes O_DIRECT (Linux ext4, xfs, btrfs) the data is written past the page cache and "
                             "this saves little; elsewhere it leaves the data in the cache, as whisper.cpp's "
                             "converter does, and a power loss or OS crash right after the run could leave an "
                             "incomplete file; an interrupted run still leaves none (default: synced)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from whisper_tune.export.exporter import export_ggml

    result = export_ggml(
        args.model, args.dtype, args.out, adapter=args.adapter, whisper_cpp_dir=args.whisper_cpp_dir,
        name=args.name, futo=args.futo_name, durable=not args.no_sync,
    )
    print(f"{result.path}  ({result.dtype}, {result.size_bytes / 1e6:.1f} MB, {result.n_tensors} tensors, "
          f"sha256 {result.sha256[:16]}..., {result.seconds:.2f} s)")
    return 0
