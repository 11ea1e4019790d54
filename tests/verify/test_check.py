"""check_model(): conversion readiness of HF folders, and --fix for what is safely derivable."""

from __future__ import annotations

import json
import shutil

import pytest

from whisper_tune.verify import check_model


@pytest.fixture
def folder(tiny_random_dir, tmp_path):
    """A writable copy of the random-weight tiny model (English-only, tied embeddings)."""
    return shutil.copytree(tiny_random_dir, tmp_path / "model")


def _edit_json(path, **changes):
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(json.dumps(data))


def _wheres(report):
    return {f.where for f in report.findings if f.level == "error"}


def test_sound_models_are_ready(folder):
    report = check_model(folder)
    assert report.ok and report.findings == [] and report.fixed == []
    assert report.checked == ["config fields", "weight shapes", "output projection", "feature extractor",
                              "generation config", "tokenizer files", "tokenizer against vocabulary size"]


def test_missing_tokenizer_files_and_max_length_are_fixed(folder):
    for name in ("vocab.json", "merges.txt", "added_tokens.json"):
        (folder / name).unlink()
    _edit_json(folder / "generation_config.json", max_length=None)
    before = check_model(folder)
    assert not before.ok
    assert _wheres(before) == {"vocab.json", "merges.txt", "added_tokens.json", "generation_config.json: max_length"}
    assert all(f.fixable for f in before.findings)
    fixed = check_model(folder, fix=True)
    assert fixed.ok, fixed.findings
    assert fixed.fixed == ["vocab.json: written from tokenizer.json", "merges.txt: written from tokenizer.json",
                           "added_tokens.json: written from tokenizer.json",
                           "generation_config.json: set max_length to 448 (max_target_positions)"]
    assert len(json.loads((folder / "vocab.json").read_text())) == 50257
    assert json.loads((folder / "generation_config.json").read_text())["max_length"] == 448
    assert check_model(folder, fix=True).fixed == []  # nothing left to do


def test_unknown_vocabulary_size_and_mel_mismatch(folder):
    _edit_json(folder / "config.json", vocab_size=51000)
    _edit_json(folder / "preprocessor_config.json", feature_size=128)
    report = check_model(folder, fix=True)
    assert not report.ok and report.fixed == []
    assert {"config.json: vocab_size", "preprocessor_config.json: feature_size",
            "weights: model.decoder.embed_tokens.weight"} <= _wheres(report)
    message = next(f.message for f in report.findings if f.where == "config.json: vocab_size")
    assert "51864, 51865, 51866" in message


def test_untied_output_projection_is_an_error(folder):
    from safetensors.torch import load_file, save_file

    weights = load_file(folder / "model.safetensors")
    weights["proj_out.weight"] = weights["model.decoder.embed_tokens.weight"].clone()
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    assert check_model(folder).ok  # stored but equal: tied, fine
    weights["proj_out.weight"][0, 0] += 1.0
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    report = check_model(folder)
    assert not report.ok and _wheres(report) == {"weights: proj_out.weight"}


def test_multilingual_generation_config_needs_languages_and_tasks(folder):
    _edit_json(folder / "config.json", vocab_size=51865)
    report = check_model(folder)
    wheres = _wheres(report)
    assert {"generation_config.json: lang_to_id", "generation_config.json: task_to_id"} <= wheres
    message = next(f.message for f in report.findings if f.where == "generation_config.json: lang_to_id")
    assert "has 99" in message


def test_missing_weights_and_preprocessor(folder):
    (folder / "preprocessor_config.json").unlink()
    (folder / "model.safetensors").unlink()
    report = check_model(folder)
    assert {"model.safetensors", "preprocessor_config.json"} <= _wheres(report)
    fixed = check_model(folder, fix=True)
    assert fixed.fixed == ["preprocessor_config.json: written for 80 mel bins"]
    assert json.loads((folder / "preprocessor_config.json").read_text())["feature_size"] == 80


def test_broken_shard_index_is_a_finding_not_a_crash(folder):
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors.index.json").write_text('{"weight_map": {"x": ', encoding="utf-8")
    report = check_model(folder)
    message = next(f.message for f in report.findings if f.where == "weights")
    assert not report.ok and "model.safetensors.index.json: not a readable safetensors index (not JSON" in message
