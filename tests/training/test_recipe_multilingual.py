"""Multilingual fine-tuning round trip: the manifest's language into the labels, into
generation_config.json (adapter and merged model), a reload without warnings, and an export
with n_vocab 51865.

The model is a random-weight multilingual Whisper (true vocabulary, small width) with
Whisper's real multilingual tokenizer, so <|de|> and <|transcribe|> have their real ids.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from tests.conftest import make_tiny_whisper_folder
from whisper_tune.audio import SAMPLE_RATE, write_wav
from whisper_tune.export.exporter import export_ggml
from whisper_tune.formats.ggml import validate_ggml
from whisper_tune.training.config import load_train_config
from whisper_tune.training.recipe import FineTuneTask, train
from whisper_tune.whisper_constants import MULTILINGUAL_VOCAB, special_ids

IDS = special_ids(MULTILINGUAL_VOCAB)
#: <|de|>: the third language token (en, zh, de, ...).
GERMAN = IDS.first_language + 2
SENTENCES = ("Guten Morgen zusammen", "Das Wetter ist schön", "Bitte öffne die Datei", "Wir sehen uns morgen")


@pytest.fixture(scope="module")
def multilingual_run(tmp_path_factory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("multilingual")
    model = make_tiny_whisper_folder(root / "base", vocab_size=MULTILINGUAL_VOCAB, layers=2)
    rng = np.random.default_rng(0)
    manifest = root / "train.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["audio", "text", "language"])
        for index, text in enumerate(SENTENCES):
            audio = root / f"clip{index}.wav"
            write_wav(audio, (0.05 * rng.standard_normal(SAMPLE_RATE)).astype(np.float32))
            writer.writerow([str(audio), text, "de"])
    config = load_train_config(None, [
        f"model={model}", f"train_manifest={manifest}", "validation_manifest=null", f"output_dir={root / 'run'}",
        "method=lora", "max_steps=2", "batch_size=2", "learning_rate=1e-3", "device=cpu", "progress=false",
        "merge=true"])
    objective = FineTuneTask(config)
    objective.setup(SimpleNamespace(device=torch.device("cpu"), is_main_process=True))
    batch = objective.collate([0, 1], 0)
    result = train(config)
    return {"batch": batch, "result": result, "root": root}


def test_labels_carry_the_manifests_language_and_the_task(multilingual_run):
    batch = multilingual_run["batch"]
    for row in range(2):
        assert batch["decoder_input_ids"][row, :4].tolist() == [IDS.sot, GERMAN, IDS.transcribe, IDS.no_timestamps]
        assert batch["labels"][row, :3].tolist() == [GERMAN, IDS.transcribe, IDS.no_timestamps]


def test_generation_config_holds_language_and_task(multilingual_run):
    result = multilingual_run["result"]
    for folder in (Path(result.model_dir), Path(result.merged_dir)):
        gen = json.loads((folder / "generation_config.json").read_text())
        assert gen["language"] == "<|de|>" and gen["task"] == "transcribe", folder
        assert gen.get("forced_decoder_ids") is None
        assert gen["lang_to_id"]["<|de|>"] == GERMAN and gen["task_to_id"]["transcribe"] == IDS.transcribe


def test_merged_model_reloads_without_a_warning_and_decodes_in_german(multilingual_run, caplog):
    import transformers
    from transformers import WhisperForConditionalGeneration

    merged = Path(multilingual_run["result"].merged_dir)
    transformers.utils.logging.enable_propagation()
    try:
        with caplog.at_level(logging.WARNING), _no_python_warnings():
            model = WhisperForConditionalGeneration.from_pretrained(merged)
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
        caplog.clear()
        features = torch.zeros((1, model.config.num_mel_bins, 3000))

        def first_scores(**prompt: str) -> torch.Tensor:
            out = model.generate(features, max_new_tokens=1, return_dict_in_generate=True, output_scores=True,
                                 **prompt)
            return out.scores[0]

        default = first_scores()
        german, english = first_scores(language="de", task="transcribe"), first_scores(language="en")
    finally:
        transformers.utils.logging.disable_propagation()
    assert [r.getMessage() for r in caplog.records if "forced_decoder_ids" in r.getMessage()] == []
    # transformers builds the prompt from generation_config.json: <|de|><|transcribe|>.
    assert torch.equal(default, german) and not torch.equal(default, english)


def test_merged_model_exports_with_the_multilingual_vocabulary(multilingual_run):
    merged = Path(multilingual_run["result"].merged_dir)
    exported = export_ggml(merged, "q8_0", multilingual_run["root"] / "de-q8_0.bin")
    assert exported.hparams.n_vocab == MULTILINGUAL_VOCAB
    assert [p for p in validate_ggml(exported.path) if p.severity == "error"] == []


class _no_python_warnings:
    """Fail on any Python warning raised inside the block (deprecations included)."""

    def __enter__(self) -> None:
        import warnings

        self._catcher = warnings.catch_warnings(record=True)
        self._caught = self._catcher.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc: Any) -> None:
        self._catcher.__exit__(*exc)
        messages = [str(w.message) for w in self._caught if not issubclass(w.category, ResourceWarning)]
        assert messages == [], messages
