"""``whisper-tune transcribe``: decode audio files with an HF model or a GGML file."""

from __future__ import annotations

import argparse
import json

from whisper_tune.errors import AudioError
from whisper_tune.whisper_constants import FULL_AUDIO_CTX, POSITIONS_PER_SECOND


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "transcribe",
        help="transcribe audio files with a model (HF) or a GGML file (whisper.cpp)",
        description=(
            "Transcribe audio files (wav, flac, ogg, mp3; any rate and channel count, resampled to "
            "16 kHz mono). Prints one line of text per file, or JSON with --json."
        ),
    )
    parser.add_argument("audio", nargs="+", metavar="AUDIO", help="audio files")
    parser.add_argument("--model", required=True, metavar="SPEC",
                        help="model: embedded:tiny.en, an HF or CTranslate2 folder, an adapter folder, "
                             "a hub id, or (with --backend whispercpp) a GGML .bin file")
    parser.add_argument("--backend", choices=("hf", "whispercpp"), default="hf",
                        help="hf: PyTorch (default); whispercpp: whisper.cpp in a subprocess")
    parser.add_argument("--language", default=None, help="language code for multilingual models (default: detect)")
    parser.add_argument("--task", choices=("transcribe", "translate"), default="transcribe")
    parser.add_argument("--audio-ctx", type=int, default=None, metavar="N",
                        help=f"encoder context in positions (1-{FULL_AUDIO_CTX}, {POSITIONS_PER_SECOND} per second); "
                             "default: full 30 s")
    parser.add_argument("--beam-size", type=int, default=1, help="1 = greedy (default)")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="with --backend whispercpp: its threads (default: half the machine's cores, 1 to 4)")

    parser.add_argument("--json", action="store_true", help="print JSON: text, duration and timing per file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from whisper_tune.transcribe import DecodeOptions

    if args.audio_ctx is not None and not 1 <= args.audio_ctx <= FULL_AUDIO_CTX:
        raise AudioError(f"--audio-ctx {args.audio_ctx} is out of range; expected 1 to {FULL_AUDIO_CTX}")
    options = DecodeOptions(language=args.language, task=args.task, audio_ctx=args.audio_ctx,
                            beam_size=args.beam_size)
    if args.backend == "whispercpp":
        from whisper_tune.whispercpp import transcribe_ggml_files

        results = transcribe_ggml_files(args.model, args.audio, options, n_threads=args.threads)
    else:
        from whisper_tune.transcribe.hf import transcribe_files

        results = transcribe_files(args.model, args.audio, options, device=args.device)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2, ensure_ascii=False))
    else:
        for result in results:
            print(result.text)
    return 0
