"""Child process that loads a GGML file in whisper.cpp (pywhispercpp) and decodes clips.

Run as ``python PATH/TO/worker.py JOB_DIR`` by :mod:`.runner` only, as a plain script: it
imports nothing from whisper_tune, so it also runs under the isolated interpreter of the
whisper.cpp 1.5 runtime (pywhispercpp 1.2.0, see :mod:`.runtimes`). A bad model file can
crash this process (whisper.cpp aborts on an unknown ftype, and a failed load does not
raise: the next call segfaults), which is why it runs apart from the caller.

Both bindings are driven through their low-level module ``_pywhispercpp``. pywhispercpp
1.2.0 (whisper.cpp 1.5) differs: no context parameters (no flash attention at all), no
``suppress_regex``, ``suppress_non_speech_tokens`` for ``suppress_nst``, no
``whisper_model_*`` queries, and no ``no_timestamps`` attribute although whisper.cpp 1.5
has the field: it is set in the parameter struct itself (see :func:`_set_no_timestamps_15`).

Protocol (all files in JOB_DIR):

- ``request.json``: ``model`` (absolute path), ``mode`` ("probe" or "decode"), ``n_threads``,
  ``language``, ``task``, ``beam_size``, ``max_tokens`` (whisper.cpp's own value),
  ``contexts`` (audio_ctx per clip, 0 = full), ``no_timestamps`` (one bool per clip),
  ``languages`` (optional, one per clip, each replacing ``language`` for its clip),
  ``suppress_nst``, ``suppress_regex``, ``suppress_blank``, ``prompt``, ``entropy_thold``,
  ``logprob_thold``, ``no_speech_thold``, ``temperature_inc``, ``flash_attn``;
- ``clips.npz``: float32 16 kHz mono arrays ``clip_0`` ... (decode mode);
- ``log.txt``: the process's stderr, where whisper.cpp writes its log (set up by the parent);
- ``results.jsonl`` (written here): one JSON object per line, flushed as soon as known: first
  ``{"event": "loaded", ...}`` with the model's dimensions, then one ``{"event": "clip", ...}``
  per clip; the parent uses the last line to say where a crash happened.

This module imports only numpy and pywhispercpp so that it starts fast.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

EXIT_LOAD_FAILED = 3
EXIT_DECODE_FAILED = 4
EXIT_BAD_REQUEST = 5

#: Lines whisper.cpp logs when whisper_init_* returns NULL (the binding does not tell us).
LOAD_FAILURE_MARKERS = ("failed to load model", "failed to open", "invalid model data", "bad magic",
                        "failed to initialize whisper context")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m whisper_tune.whispercpp.worker JOB_DIR", file=sys.stderr)
        return EXIT_BAD_REQUEST
    job = Path(argv[0])
    request = json.loads((job / "request.json").read_text(encoding="utf-8"))
    import _pywhispercpp as pw

    with open(job / "results.jsonl", "w", encoding="utf-8") as out:
        started = time.perf_counter()
        ctx = _load(pw, request)
        if _load_failed(job / "log.txt"):
            _emit(out, {"event": "load_failed"})
            return EXIT_LOAD_FAILED
        _emit(out, {"event": "loaded", "seconds": time.perf_counter() - started, "binding": _binding_version(),
                    **_model_facts(pw, ctx)})
        if request["mode"] == "probe":
            return 0
        import numpy as np

        with np.load(job / "clips.npz") as archive:
            clips = [np.ascontiguousarray(archive[f"clip_{i}"], dtype=np.float32)
                     for i in range(len(request["contexts"]))]
        no_timestamps = request.get("no_timestamps") or [True] * len(clips)
        languages = request.get("languages") or [request.get("language")] * len(clips)
        # Beam search (1.8.5 and 1.5 alike) leaves state in the context that changes the next
        # call's beams, and the first call after loading differs from every later one (measured:
        # a 1.5-s clip loops as the first call and comes out clean after another clip; on the
        # 43 real clips the first call disagrees with the reference's beam search on 4 more
        # clips). So under beam search every clip gets a freshly loaded model, is decoded once
        # to settle that state and then decoded for the result: every clip starts from the same
        # kind of state whatever the order of the clips. Greedy decoding depends on neither and
        # keeps one model for all clips.
        beam_search = int(request["beam_size"]) > 1
        for index, (clip, audio_ctx) in enumerate(zip(clips, request["contexts"], strict=True)):
            if beam_search and index > 0:
                pw.whisper_free(ctx)
                ctx = _load(pw, request)
            _emit(out, {"event": "start", "index": index})
            clip_request = {**request, "language": languages[index]}
            if beam_search:
                _decode(pw, ctx, clip, audio_ctx, bool(no_timestamps[index]), clip_request)  # settles the state
            record = _decode(pw, ctx, clip, audio_ctx, bool(no_timestamps[index]), clip_request)
            if record is None:
                return EXIT_DECODE_FAILED
            _emit(out, {"event": "clip", "index": index, **record})
    return 0


def _load(pw: Any, request: dict[str, Any]) -> Any:
    if hasattr(pw, "whisper_init_from_file_with_params"):
        return pw.whisper_init_from_file_with_params(request["model"], _context_params(pw, request))
    return pw.whisper_init_from_file(request["model"])  # whisper.cpp 1.5: no context parameters


def _context_params(pw: Any, request: dict[str, Any]) -> Any:
    params = pw.whisper_context_default_params()
    # whisper.cpp 1.8's flash-attention path runs cross-attention over audio_ctx rounded up to
    # 256 positions without a mask: with a short audio_ctx the decoder also attends to stale
    # encoder rows (zeros, or the previous clip's), which makes clips loop or repeat the last
    # clip's words. Off unless asked for (FUTO's apps run without it). See runner.py.
    params.flash_attn = bool(request.get("flash_attn", False))
    return params


def _binding_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pywhispercpp")
    except PackageNotFoundError:
        return "unknown"


def _load_failed(log_file: Path) -> bool:
    sys.stderr.flush()
    text = log_file.read_text(encoding="utf-8", errors="replace").lower() if log_file.exists() else ""
    return any(marker in text for marker in LOAD_FAILURE_MARKERS)


def _model_facts(pw: Any, ctx: Any) -> dict[str, Any]:
    if not hasattr(pw, "whisper_model_n_vocab"):  # whisper.cpp 1.5's binding
        return {"n_vocab": pw.whisper_n_vocab(ctx), "n_text_ctx": pw.whisper_n_text_ctx(ctx),
                "n_audio_ctx": pw.whisper_n_audio_ctx(ctx), "multilingual": bool(pw.whisper_is_multilingual(ctx)),
                "eot": pw.whisper_token_eot(ctx)}
    return {
        "n_vocab": pw.whisper_model_n_vocab(ctx),
        "n_text_ctx": pw.whisper_model_n_text_ctx(ctx),
        "n_audio_ctx": pw.whisper_model_n_audio_ctx(ctx),
        "ftype": pw.whisper_model_ftype(ctx),
        "type": pw.whisper_model_type_readable(ctx),
        "multilingual": bool(pw.whisper_is_multilingual(ctx)),
        "eot": pw.whisper_token_eot(ctx),
    }


def _params(pw: Any, ctx: Any, audio_ctx: int, no_timestamps: bool, request: dict[str, Any]) -> Any:
    """whisper_full_params as the request says (see runner.py for the why of each default)."""
    beam = int(request["beam_size"]) > 1
    strategy = (pw.whisper_sampling_strategy.WHISPER_SAMPLING_BEAM_SEARCH if beam
                else pw.whisper_sampling_strategy.WHISPER_SAMPLING_GREEDY)
    params = pw.whisper_full_default_params(strategy)
    if beam:
        params.beam_search = {"beam_size": int(request["beam_size"]), "patience": -1.0}
    else:
        params.greedy = {"best_of": 1}
    params.n_threads = int(request["n_threads"])
    params.temperature = 0.0
    params.temperature_inc = float(request.get("temperature_inc", 0.0))
    params.no_context = True
    params.single_segment = True
    params.max_tokens = int(request["max_tokens"])
    params.audio_ctx = int(audio_ctx)
    params.print_progress = False
    params.print_realtime = False
    params.print_timestamps = False
    params.print_special = False
    params.suppress_blank = bool(request.get("suppress_blank", True))
    if hasattr(params, "suppress_nst"):
        params.suppress_nst = bool(request["suppress_nst"])
    else:  # whisper.cpp 1.5's name
        params.suppress_non_speech_tokens = bool(request["suppress_nst"])
    if request.get("suppress_regex"):
        params.suppress_regex = request["suppress_regex"]
    if request.get("prompt"):
        params.initial_prompt = request["prompt"]
    params.no_speech_thold = float(request.get("no_speech_thold", 1.0))
    params.logprob_thold = float(request.get("logprob_thold", -1e9))
    params.entropy_thold = float(request.get("entropy_thold", 0.0))
    language = request.get("language")
    params.language = language or ("auto" if pw.whisper_is_multilingual(ctx) else "en")
    params.translate = request.get("task") == "translate"
    if hasattr(params, "no_timestamps"):
        params.no_timestamps = no_timestamps
    elif no_timestamps:
        _set_no_timestamps_15(params)
    return params


#: Byte offsets in whisper.cpp 1.5's ``whisper_full_params``: four ints (strategy, n_threads,
#: n_max_text_ctx, offset_ms) and duration_ms, then the bools translate, no_context,
#: no_timestamps, single_segment. pywhispercpp 1.2.0 exposes all of them but no_timestamps.
_TRANSLATE_OFFSET_15 = 20
_NO_TIMESTAMPS_OFFSET_15 = 22


def _set_no_timestamps_15(params: Any) -> None:
    """Set no_timestamps in pywhispercpp 1.2.0's parameter struct, after checking the layout.

    The struct is reached through the pybind11 object (its first field after the Python
    object header points to the C struct). The layout is checked first by toggling the
    exposed neighbours (translate, no_context, single_segment) and watching their bytes
    change; if it is not what is expected nothing is written and the run stops.
    """
    import ctypes

    pointer_size = ctypes.sizeof(ctypes.c_void_p)  # past the object header: refcount and type
    address = ctypes.cast(id(params) + 2 * pointer_size, ctypes.POINTER(ctypes.c_void_p)).contents.value
    if not address:
        raise RuntimeError("pywhispercpp's whisper_full_params object holds no struct; cannot set no_timestamps")
    view = (ctypes.c_ubyte * 4).from_address(address + _TRANSLATE_OFFSET_15)
    before = (params.translate, params.no_context, params.single_segment)
    for flags in ((True, False, False), (False, True, True)):
        params.translate, params.no_context, params.single_segment = flags
        if (view[0], view[1], view[3]) != tuple(int(f) for f in flags):
            raise RuntimeError("pywhispercpp's whisper_full_params layout is not whisper.cpp 1.5's; "
                               "cannot set no_timestamps")
    params.translate, params.no_context, params.single_segment = before
    view[_NO_TIMESTAMPS_OFFSET_15 - _TRANSLATE_OFFSET_15] = 1


def _decode(pw: Any, ctx: Any, clip: Any, audio_ctx: int, no_timestamps: bool,
            request: dict[str, Any]) -> dict[str, Any] | None:
    params = _params(pw, ctx, audio_ctx, no_timestamps, request)
    started = time.perf_counter()
    status = pw.whisper_full(ctx, params, clip, clip.size)
    seconds = time.perf_counter() - started
    if status != 0:
        print(f"whisper_full returned {status}", file=sys.stderr)
        return None
    tokens: list[int] = []
    text = b""
    for segment in range(pw.whisper_full_n_segments(ctx)):
        piece = pw.whisper_full_get_segment_text(ctx, segment)
        text += piece if isinstance(piece, bytes) else piece.encode("utf-8")  # 1.2.0 returns str
        tokens += [pw.whisper_full_get_token_id(ctx, segment, i) for i in range(pw.whisper_full_n_tokens(ctx, segment))]
    return {"tokens": tokens, "text": text.decode("utf-8", errors="replace"), "seconds": seconds}


def _emit(out: TextIO, record: dict[str, Any]) -> None:
    out.write(json.dumps(record) + "\n")
    out.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
