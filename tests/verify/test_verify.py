"""verify(): passes real exports, fails every kind of damaged file cleanly (real files on disk)."""

from __future__ import annotations

import contextlib
import json
import shutil
import struct

import numpy as np
import pytest

from tests.conftest import rewrite_ggml
from tests.jfk_cuts import jfk_cuts
from whisper_tune.errors import DataError, FormatError
from whisper_tune.evaluation.eval import EvalClip
from whisper_tune.transcribe.types import DecodeOptions
from whisper_tune.verify import verify


@pytest.fixture(scope="module")
def clips(jfk_audio, jfk_text):
    """jfk.wav and one of its cuts, with transcripts: 14 s of audio."""
    cuts = {c.id: c for c in jfk_cuts(jfk_audio)}
    return [EvalClip("jfk", jfk_audio, jfk_text, "en"), cuts["jfk-c"]]


@pytest.fixture
def models(embedded_model, embedded_processor):
    return {"hf_model": embedded_model, "hf_processor": embedded_processor}


@pytest.mark.parametrize("dtype", ["f16", "q8_0"])
def test_exports_pass(dtype, embedded_ggml, clips, models, tmp_path):
    report = verify(embedded_ggml[dtype], "embedded:tiny.en", clips, report_dir=tmp_path, **models)
    assert report.passed, report.reason
    assert report.stage == "compare" and "within 2.0%" in report.reason
    assert report.exact_match_rate == 1.0  # identical tokens on every clip
    assert report.ggml_wer is not None and report.ggml_wer == report.model_wer and report.ggml_wer <= 0.05
    assert report.file_size == embedded_ggml[dtype].stat().st_size
    assert report.real_time_factor is not None and 0 < report.real_time_factor < 5
    written = json.loads((tmp_path / "verify.json").read_text())
    assert written["passed"] is True and len(written["clips"]) == 2 and written["wer_delta"] == 0.0
    assert (tmp_path / "verify.md").read_text().startswith(f"# Verification of {embedded_ggml[dtype].name}: PASS")


def _header_field(index: int, value: int):
    def edit(data: bytearray) -> bytearray:
        struct.pack_into("<i", data, 4 + 4 * index, value)
        return data
    return edit


def _no_tensors(data: bytearray, path) -> bytes:
    from whisper_tune.formats.ggml import read_ggml

    first = read_ggml(path).tensors[read_ggml(path).tensor_order[0]]
    header = 12 + 4 * len(first.shape) + len(first.name.encode())
    return bytes(data[: first.offset - header])  # everything up to the first tensor header


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("vocabulary size", "n_vocab is 51000; whisper.cpp derives its special-token ids"),
        ("truncated", "is truncated"),
        ("unknown ftype", "ftype 1234 is unknown to whisper.cpp (it aborts on load)"),
        ("no tensors", "the file holds no tensors"),
        ("not ggml", "not a readable GGML model file"),
        ("other model", "the file is not an export of the reference model: n_audio_state is 64 in the file, 384"),
        ("other vocabulary", "the file's vocabulary is not the reference's tokenizer: 1 token(s) differ, the first "
                             "is id 1000: b' Ask' in the file, b'ale' in the reference's tokenizer"),
    ],
)
def test_damaged_files_fail_at_the_integrity_stage(kind, reason, embedded_ggml, tiny_random_dir, clips, tmp_path):
    good = embedded_ggml["f16"]
    bad = tmp_path / "bad.bin"
    if kind == "vocabulary size":
        bad.write_bytes(_header_field(0, 51000)(bytearray(good.read_bytes())))
    elif kind == "truncated":
        bad.write_bytes(good.read_bytes()[:-1000])
    elif kind == "unknown ftype":
        bad.write_bytes(_header_field(10, 1234)(bytearray(good.read_bytes())))
    elif kind == "no tensors":
        bad.write_bytes(_no_tensors(bytearray(good.read_bytes()), good))
    elif kind == "not ggml":
        bad.write_bytes(b"GGUF" + bytes(100))
    elif kind == "other vocabulary":  # whisper.cpp would spell token 1000 differently from the reference
        rewrite_ggml(good, bad, {}, vocab_edits={1000: b" Ask"})
    else:  # a sound file of another model (random tiny dims) checked against tiny.en
        from whisper_tune.export.exporter import export_ggml

        export_ggml(tiny_random_dir, "f16", bad)
    report = verify(bad, "embedded:tiny.en", clips[:1], report_dir=tmp_path / "report")
    assert not report.passed and report.stage == "integrity"
    assert reason in report.reason
    assert report.clips == []  # whisper.cpp never ran
    assert json.loads((tmp_path / "report" / "verify.json").read_text())["passed"] is False


def test_scrambled_weights_fail_the_comparison(embedded_ggml, clips, models, tmp_path):
    """Sound structure, wrong weights: rows of two decoder matrices permuted, plus noise."""
    rng = np.random.default_rng(0)

    def permute_rows(values):
        return values[rng.permutation(values.shape[0])]

    def add_noise(values):
        return values + rng.normal(0, 0.5, values.shape).astype(np.float32)

    scrambled = rewrite_ggml(embedded_ggml["f16"], tmp_path / "scrambled.bin", {
        "decoder.blocks.0.cross_attn.query.weight": permute_rows,
        "decoder.blocks.1.mlp.0.weight": add_noise,
    })
    report = verify(scrambled, "embedded:tiny.en", clips[:1], **models)
    assert not report.passed and report.stage == "compare"
    assert "exceeds 2.0%" in report.reason and report.wer_delta is not None and report.wer_delta > 0.02
    assert report.exact_match_rate == 0.0


def test_a_hung_whisper_cpp_is_a_failed_verdict_with_its_log(embedded_ggml, clips, models):
    report = verify(embedded_ggml["f16"], "embedded:tiny.en", clips[:1], timeout=0.2, **models)
    assert not report.passed and report.stage == "whisper.cpp"
    assert "did not finish within 0 s" in report.reason and "killed" in report.reason


def test_short_audio_verdict_for_stock_tiny_en(embedded_ggml, jfk_audio, models):
    """Stock tiny.en loops on "And so my fellow Americans" at FUTO's contexts: not safe."""
    cut = [c for c in jfk_cuts(jfk_audio) if c.id == "jfk-a"]
    report = verify(embedded_ggml["q8_0"], "embedded:tiny.en", cut, short_audio=True, max_wer_delta=0.5, **models)
    assert report.passed  # the file itself matches its model...
    rows = {r.audio_ctx: r for r in report.short_audio}
    assert set(rows) == {"futo", "futo+8", "futo+32", "futo+64"}
    assert rows["futo"].loops == 1 and rows["futo"].deployed and rows["futo"].blow_up
    assert report.short_audio_safe is False  # ...but it is not safe for FUTO Voice Input
    assert "at futo: 1 loop(s)" in report.short_audio_reason


def test_bad_input_raises(embedded_ggml, clips, tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        verify(tmp_path / "missing.bin", "embedded:tiny.en", clips)
    copy = tmp_path / "model.bin"
    shutil.copy(embedded_ggml["f16"], copy)
    with pytest.raises(Exception, match="no clips to verify"):
        verify(copy, "embedded:tiny.en", [])
    with pytest.raises(DataError, match=r"options\.audio_ctx is 160; leave audio_ctx unset"):
        verify(copy, "embedded:tiny.en", clips, short_audio=True, options=DecodeOptions(audio_ctx=160))


def test_the_sweep_in_one_whisper_cpp_process_equals_one_process_per_context(embedded_ggml, jfk_audio, models):
    """verify decodes the full context and every short-audio context in one whisper.cpp
    process; each clip's tokens must be those of a process per context (as before)."""
    from whisper_tune.evaluation.contexts import SHORT_AUDIO_SWEEP, contexts_for
    from whisper_tune.evaluation.eval import decode_whispercpp
    from whisper_tune.transcribe.types import DecodeOptions
    from whisper_tune.verify.verify import VerifyReport, _collect, _Job, _start

    cuts = [c for c in jfk_cuts(jfk_audio) if c.id in ("jfk-a", "jfk-c")]
    suppress = list(models["hf_model"].generation_config.suppress_tokens)
    job = _Job(embedded_ggml["q8_0"], VerifyReport(embedded_ggml["q8_0"], "embedded:tiny.en", False, "", "", 0.02,
                                                   threads=1), short_audio=True)
    with contextlib.ExitStack() as running:
        _start(job, cuts, DecodeOptions(), None, suppress, running)
        together, error = _collect(job)
    assert error is None and together is not None and list(together) == ["full", *SHORT_AUDIO_SWEEP]
    arrays = [c.audio for c in cuts]
    for label, transcripts in together.items():
        alone = decode_whispercpp(embedded_ggml["q8_0"], arrays, contexts_for(arrays, label), DecodeOptions(),
                                  suppress_tokens=suppress, n_threads=1)
        assert [t.tokens for t in transcripts] == [t.tokens for t in alone], label


def test_verify_all_gives_each_file_the_report_verify_gives_it_alone(embedded_ggml, clips, models, tmp_path):
    """verify_all runs the files' whisper.cpp workers side by side while the reference decodes
    once; every report must be the one verify() writes for that file alone, and a file that
    fails its integrity check must not disturb the others."""
    from whisper_tune.verify.verify import VerifyTarget, verify_all

    broken = tmp_path / "broken.bin"
    broken.write_bytes(embedded_ggml["q8_0"].read_bytes()[:100_000])  # truncated
    files = [embedded_ggml["f16"], broken, embedded_ggml["q8_0"]]
    together = verify_all([VerifyTarget(f, report_dir=tmp_path / f"all-{i}") for i, f in enumerate(files)],
                          "embedded:tiny.en", clips, **models)
    assert [r.ggml_file for r in together] == [f.resolve() for f in files]
    assert [r.passed for r in together] == [True, False, True]
    assert together[1].stage == "integrity" and not together[1].clips
    for index, path in enumerate(files):
        alone = verify(path, "embedded:tiny.en", clips, report_dir=tmp_path / f"alone-{index}", **models)
        assert _without_timing(together[index].to_dict()) == _without_timing(alone.to_dict()), path.name
        written = [json.loads((tmp_path / f"{kind}-{index}" / "verify.json").read_text()) for kind in ("all", "alone")]
        assert _without_timing(written[0]) == _without_timing(written[1])


#: Fields that measure time, the only ones allowed to differ between two runs.
TIMING_FIELDS = ("seconds", "real_time_factor")


def _without_timing(report: dict) -> dict:
    kept = {k: v for k, v in report.items() if k not in TIMING_FIELDS}
    kept["clips"] = [{k: v for k, v in clip.items() if k not in TIMING_FIELDS} for clip in report["clips"]]
    return kept


def test_verify_twice_gives_identical_reports(embedded_ggml, clips, models, tmp_path):
    """whisper.cpp's results depend on its thread count; the default is fixed for the machine
    (never taken from its load), so two runs on the same file agree, and the report says it."""
    from whisper_tune.whispercpp import default_threads

    for run in ("a", "b"):
        verify(embedded_ggml["q8_0"], "embedded:tiny.en", clips, report_dir=tmp_path / run, **models)
    first, second = (json.loads((tmp_path / run / "verify.json").read_text()) for run in ("a", "b"))
    assert first["threads"] == default_threads() and f"- whisper.cpp threads: {first['threads']}" in (
        tmp_path / "a" / "verify.md").read_text()
    assert len(first["clips"]) == len(clips) and first["passed"]
    assert _without_timing(first) == _without_timing(second)
