"""Behaviour on the real tiny.en: every method lowers validation WER on domain dictation it
gets wrong, and the saved result, merged into the original base, decodes the same.

Data (tests/training/conftest.py): sentences s01-s08 of the bundled demo dataset spoken by
three voices for training (24 clips), the same sentences by a fourth voice for validation
(8 clips, never trained on). Six steps of 8 clips, encoder on each batch's own frames.
"""

from __future__ import annotations

import pytest

from whisper_tune.models import load_model, load_processor
from whisper_tune.training.config import load_train_config
from whisper_tune.training.recipe import FineTuneTask, train

METHOD_SETTINGS = {
    "lora": ["learning_rate=1e-3"],
    "dora": ["learning_rate=1e-3"],
    "pissa": ["learning_rate=1e-3"],
    "full": ["learning_rate=5e-5"],
}
#: Merged model vs the trained model's own evaluation: at most one word of the ~78.
WER_TOLERANCE = 1 / 70


@pytest.mark.slow
@pytest.mark.parametrize("method", list(METHOD_SETTINGS))
def test_method_lowers_validation_wer_and_merges(method, demo_manifests, tmp_path, embedded_path):
    config = load_train_config(None, [
        f"train_manifest={demo_manifests['train']}", f"validation_manifest={demo_manifests['validation']}",
        f"output_dir={tmp_path / 'run'}", f"method={method}", "max_steps=6", "batch_size=8",
        "lr_schedule=constant", "eval_audio_ctx=full", "lora.target_modules=q_proj,k_proj,v_proj,out_proj",
        "device=cpu", "progress=false", "merge=true", *METHOD_SETTINGS[method]])
    result = train(config)
    assert result.steps == 6
    assert result.final["wer"] < result.baseline["wer"], (result.baseline, result.final)
    assert result.best_metric is not None and result.best_metric < result.baseline["wer"]
    assert (tmp_path / "run" / "summary.md").read_text().count("| wer |") == 1

    # The merged folder (adapter + ORIGINAL base, written by whisper_tune.merge) decodes the
    # validation clips like the trained model did in its best evaluation.
    objective = FineTuneTask(config)
    merged = load_model(str(result.merged_dir))
    from whisper_tune.audio import load_audio
    from whisper_tune.training.recipe import error_rates
    from whisper_tune.transcribe.hf import transcribe_arrays

    clips = [load_audio(row.audio) for row in objective.validation_rows]
    hypotheses = [t.text for t in transcribe_arrays(merged, load_processor(str(embedded_path)), clips, batch_size=8)]
    wer, _ = error_rates([row.text for row in objective.validation_rows], hypotheses, None)
    assert wer == pytest.approx(result.best_metric, abs=WER_TOLERANCE)


def test_an_empty_validation_manifest_trains_without_evaluation(random_manifest, tiny_random_dir, tmp_path):
    """`validation_manifest=` on the command line means no validation set (it was the path '.')."""
    config = load_train_config(None, [
        f"train_manifest={random_manifest}", f"model={tiny_random_dir}", f"output_dir={tmp_path / 'run'}",
        "validation_manifest=", "max_steps=1", "batch_size=2", "encoder_context=full", "device=cpu",
        "progress=false"])
    assert config.validation_manifest is None
    result = train(config)
    assert result.steps == 1 and result.final_loss is not None
    assert result.baseline == {} and result.final == {} and result.best_metric is None
    assert result.model_dir == tmp_path / "run" / "last"
