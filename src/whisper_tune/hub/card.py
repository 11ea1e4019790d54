"""The model card (README.md) of a pushed model, written from the run's own files.

Everything in it is read, not typed in: the base model, data and hyperparameters from the
run's ``config.yaml``; the scores before and after from its ``metrics.jsonl`` (the first and
the last evaluation: WER at the full and at FUTO's context for ``train``, the distillation
loss for ``acft``) and from ``eval.json`` reports in the run folder; the verdict from a
``verify.json``; ACFT from the ``whisper_tune`` marker in ``config.json``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: What a score key means, in the order the table lists them.
SCORE_NAMES: dict[str, str] = {
    "wer": "WER, full context (30 s)",
    "wer_futo": "WER, FUTO's context (samples/320 + 32)",
    "cer": "CER, full context",
    "cer_futo": "CER, FUTO's context",
    "mse_futo": "ACFT distillation loss at FUTO's context (lower is better)",
    "mse_full": "ACFT distillation loss at the full context",
}
#: Model specs of whisper-tune that stand for a Hub model.
EMBEDDED_BASES = {"embedded:tiny.en": "openai/whisper-tiny.en"}
HYPERPARAMETERS = ("method", "learning_rate", "lr_schedule", "warmup_steps", "epochs", "max_steps", "batch_size",
                   "gradient_accumulation_steps", "weight_decay", "max_grad_norm", "mixed_precision",
                   "encoder_context", "clip_ctx_offset", "max_clip_seconds", "seed")


@dataclass
class RunFacts:
    """What the card says, gathered from the files."""

    repo_id: str
    model_config: dict[str, Any]
    run_config: dict[str, Any] = field(default_factory=dict)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    steps: int | None = None
    eval_reports: list[dict[str, Any]] = field(default_factory=list)
    verify: dict[str, Any] | None = None
    ggml_files: list[str] = field(default_factory=list)

    @property
    def marker(self) -> dict[str, Any]:
        value = self.model_config.get("whisper_tune")
        return value if isinstance(value, dict) else {}

    @property
    def acft(self) -> bool:
        return bool(self.marker.get("acft"))

    @property
    def base_model(self) -> str | None:
        spec = str(self.marker.get("base") or self.run_config.get("model") or "")
        spec = EMBEDDED_BASES.get(spec, spec)
        return spec if spec.count("/") == 1 and not spec.startswith((".", "/")) else None

    @property
    def datasets(self) -> list[str]:
        found = []
        for key in ("train_manifest", "validation_manifest", "eval_manifest"):
            value = str(self.run_config.get(key) or "")
            if value.startswith("hf:"):
                name = value[3:].rsplit("@", 1)[0]
                if name not in found:
                    found.append(name)
        return found

    @property
    def language(self) -> str | None:
        return self.run_config.get("language") or None


def gather_facts(repo_id: str, model_dir: Path, run_dir: Path | None, ggml_files: list[Path]) -> RunFacts:
    """Read every file the card draws on (missing ones are simply not reported)."""
    import yaml

    facts = RunFacts(repo_id, _json(model_dir / "config.json") or {})
    facts.ggml_files = [p.name for p in ggml_files]
    folders = [f for f in (model_dir, run_dir) if f is not None]
    for folder in ([run_dir] if run_dir else []):
        if (folder / "config.yaml").is_file():
            loaded = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
            facts.run_config = loaded if isinstance(loaded, dict) else {}
        metrics = folder / "metrics.jsonl"
        if metrics.is_file():
            records = [json.loads(line) for line in metrics.read_text(encoding="utf-8").splitlines() if line.strip()]
            facts.evaluations = [r for r in records if r.get("event") == "eval"]
            facts.steps = max((int(r["step"]) for r in records if "step" in r), default=None)
        facts.eval_reports = [report for path in sorted(folder.rglob("eval.json"))
                              if (report := _json(path)) is not None]
    for folder in folders + sorted({p.parent for p in ggml_files}):
        if (folder / "verify.json").is_file():
            facts.verify = _json(folder / "verify.json")
            break
    return facts


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("%s: not read for the model card (%s)", path, exc)
        return None
    return data if isinstance(data, dict) else None


def model_card(facts: RunFacts) -> str:
    """README.md: YAML metadata, then what the model is, how it was trained, its scores and use."""
    sections = [_front_matter(facts), f"# {facts.repo_id.split('/', 1)[1]}", "", _summary(facts),
                _training(facts), _scores(facts), _verification(facts), _usage(facts)]
    return "\n".join(part for part in sections if part is not None).rstrip() + "\n"


def _front_matter(facts: RunFacts) -> str:
    import yaml

    meta: dict[str, Any] = {"library_name": "transformers", "pipeline_tag": "automatic-speech-recognition",
                            "tags": ["whisper", "whisper.cpp", "whisper-tune"] + (["acft"] if facts.acft else [])}
    if facts.base_model:
        meta["base_model"] = facts.base_model
    if facts.datasets:
        meta["datasets"] = facts.datasets
    language = facts.language or ("en" if (facts.base_model or "").endswith(".en") else None)
    if language:
        meta["language"] = [language]
    return "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n"


def _summary(facts: RunFacts) -> str:
    kind = "audio-context fine-tuned (ACFT, FUTO's method)" if facts.acft else "fine-tuned"
    base = facts.base_model or facts.marker.get("base") or facts.run_config.get("model") or "a Whisper model"
    lines = [f"Whisper {kind} from `{base}` with [whisper-tune](https://github.com/whisper-tune/whisper-tune).", ""]
    lines.append(f"- ACFT-trained: {'yes' if facts.acft else 'no'}"
                 + (" (safe at the short audio_ctx FUTO's apps use)" if facts.acft else
                    " (run `whisper-tune acft` before using it in FUTO's apps)"))
    manifest = facts.run_config.get("train_manifest")
    data = facts.datasets or ([f"a local manifest ({Path(str(manifest)).name})"] if manifest else [])
    if data:
        lines.append(f"- training data: {', '.join(data)}")
    if facts.ggml_files:
        lines.append(f"- whisper.cpp files: {', '.join(f'`{name}`' for name in facts.ggml_files)}")
    return "\n".join(lines) + "\n"


def _training(facts: RunFacts) -> str | None:
    config = facts.run_config
    if not config:
        return None
    rows = [(key, config[key]) for key in HYPERPARAMETERS if key in config and config[key] not in (None, "")]
    lora = config.get("lora")
    if config.get("method") in ("lora", "dora", "pissa") and isinstance(lora, dict):
        targets = ",".join(lora.get("target_modules", []))
        rows.append(("lora", f"r={lora.get('rank')} alpha={lora.get('alpha')} on {targets}"))
    if facts.steps is not None:
        rows.append(("optimizer steps done", facts.steps))
    lines = ["## Training", "", "| setting | value |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in rows]
    return "\n".join(lines) + "\n"


def _scores(facts: RunFacts) -> str | None:
    lines = []
    if facts.evaluations:
        first, last = facts.evaluations[0], facts.evaluations[-1]
        intro = (f"Measured by the run itself on its validation data (step {first['step']} = before, "
                 f"step {last['step']} = after):")
        lines += ["## Results", "", intro, "", "| score | before | after |", "|---|---|---|"]
        for key, name in SCORE_NAMES.items():
            if key in first or key in last:
                lines.append(f"| {name} | {_value(key, first.get(key))} | {_value(key, last.get(key))} |")
    if facts.eval_reports:
        lines += ["", "Evaluations (`whisper-tune eval`):", "",
                  "| model | backend | audio_ctx | WER |", "|---|---|---|---|"]
        for report in facts.eval_reports:
            lines.append(f"| {Path(str(report.get('model', '?'))).name} | {report.get('backend', '?')} | "
                         f"{report.get('audio_ctx', '?')} | {_value('wer', report.get('wer'))} |")
    return "\n".join(lines) + "\n" if lines else None


def _value(key: str, value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return f"{100 * value:.1f} %" if key.startswith(("wer", "cer")) else f"{value:.4f}"


def _verification(facts: RunFacts) -> str | None:
    if not facts.verify:
        return None
    report = facts.verify
    verdict = "PASS" if report.get("passed") else "FAIL"
    checked = Path(str(report.get("ggml_file", "?"))).name
    lines = ["## Verification in whisper.cpp", "",
             f"`whisper-tune verify` on `{checked}`: **{verdict}** ({report.get('reason', '')})"]
    if report.get("short_audio_safe") is not None:
        lines.append(f"FUTO short-audio check: {'safe' if report['short_audio_safe'] else 'NOT safe'} "
                     f"({report.get('short_audio_reason', '')})")
    return "\n".join(lines) + "\n"


def _usage(facts: RunFacts) -> str:
    name = facts.repo_id
    ggml = facts.ggml_files[0] if facts.ggml_files else "ggml-model-q8_0.bin"
    lines = ["## Use", "", "Transformers:", "", "```python", "from transformers import pipeline", "",
             f'asr = pipeline("automatic-speech-recognition", model="{name}")', 'print(asr("clip.wav")["text"])',
             "```", "", "whisper.cpp:", "", "```"]
    if not facts.ggml_files:
        folder = name.split("/")[1]
        lines.append(f"whisper-tune export {folder}/ --dtype q8_0 --out {ggml}   # after downloading this repo")
    lines += [f"whisper-cli -m {ggml} -f clip.wav", "```", "",
              "FUTO Voice Input / FUTO Keyboard (tiny, base and small only): take the q8_0 file "
              "(`whisper-tune export ... --dtype q8_0 --futo-name` names it like `base_en_acft_q8_0.bin`), "
              "then in the app's Settings -> Languages & Models choose the language and import the file as a "
              "custom model." + ("" if facts.acft else " Without ACFT the model may loop at FUTO's short audio_ctx.")]
    return "\n".join(lines) + "\n"
