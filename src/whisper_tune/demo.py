"""``whisper-tune demo``: the whole promise, end to end, offline, on the embedded tiny.en.

    manifest + validation -> baseline eval -> LoRA training (+ merge) -> fine-tuned eval
    -> ACFT -> export f16 and q8_0 (FUTO's name) -> verify in whisper.cpp (short audio too)
    -> report (markdown + PNG plots)

Every stage records its result in ``OUT/state.json`` when it finishes; a second run skips
the stages whose results and outputs are there, so an interrupted demo picks up where it
stopped. Each stage is one call into the library: this module only wires them together.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from whisper_tune.errors import WhisperTuneError
from whisper_tune.fileio import atomic_write_json

log = logging.getLogger(__name__)

BASE_MODEL = "embedded:tiny.en"
STATE_FILE = "state.json"
REPORT_FILE = "REPORT.md"
#: Verdict threshold for the demo's verify: whisper.cpp may differ from PyTorch by 2 WER points.
MAX_WER_DELTA = 0.02
#: Token cap of the demo's evaluations. The longest held-out transcript is under 30 tokens, so
#: 96 still marks every repetition loop (it hits the cap) while bounding what loops cost.
EVAL_MAX_TOKENS = 96


@dataclass
class DemoContext:
    """Where each stage reads and writes, and what earlier stages found."""

    out: Path
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def data(self) -> Path:
        return self.out / "data"

    @property
    def runs(self) -> Path:
        return self.out / "runs"

    @property
    def models(self) -> Path:
        return self.out / "models"

    @property
    def reports(self) -> Path:
        return self.out / "reports"

    def result(self, stage: str) -> dict[str, Any]:
        return self.state[stage]["result"]


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    run: Callable[[DemoContext], dict[str, Any]]
    #: Keys of the stage's result that name files or folders which must still exist to skip it.
    outputs: tuple[str, ...] = ()


def demo_config_path(name: str) -> Path:
    """A demo config shipped with the package (``train.yaml``, ``acft.yaml``)."""
    return Path(str(resources.files("whisper_tune") / "assets" / "demo" / name))


# --- stages ----------------------------------------------------------------------------------


def stage_manifest(ctx: DemoContext) -> dict[str, Any]:
    from whisper_tune.data.build import build_manifest
    from whisper_tune.demo_data import HELDOUT, TRAIN, demo_split_dir

    # strict: the bundled data must be clean; a problem here is a packaging bug worth stopping for.
    train = build_manifest([demo_split_dir(TRAIN)], ctx.data / "train.csv", split="val=0.15", seed=0, strict=True)
    heldout = build_manifest([demo_split_dir(HELDOUT)], ctx.data / "heldout.csv", strict=True)
    paths = {"train": train.manifests["train"], "val": train.manifests["val"], "heldout": heldout.manifests["train"]}
    return {**{name: str(path) for name, path in paths.items()},
            "clips": {name: _count_rows(path) for name, path in paths.items()}}


def stage_baseline(ctx: DemoContext) -> dict[str, Any]:
    return _evaluate_hf(ctx, BASE_MODEL, "baseline")


def stage_train(ctx: DemoContext) -> dict[str, Any]:
    from whisper_tune.training.config import load_train_config
    from whisper_tune.training.recipe import train

    data = ctx.result("manifest")
    config = load_train_config(demo_config_path("train.yaml"), [
        f"train_manifest={data['train']}",
        f"validation_manifest={data['val']}",
        f"output_dir={ctx.runs / 'train'}",
        "merge=true",
        "resume=auto",
    ])
    result = train(config)
    if result.merged_dir is None:
        raise WhisperTuneError("training finished without a merged model")
    return {"adapter": str(result.model_dir), "merged": str(result.merged_dir), "steps": result.steps,
            "final_loss": result.final_loss, "samples_per_second": result.samples_per_second,
            "validation_baseline": result.baseline, "validation_final": result.final}


def stage_finetuned(ctx: DemoContext) -> dict[str, Any]:
    return _evaluate_hf(ctx, ctx.result("train")["merged"], "finetuned")


def stage_glossary(ctx: DemoContext) -> dict[str, Any]:
    """Stock and fine-tuned with the domain terms as FUTO's glossary prompt: what a user gets
    from the personal dictionary alone, against what fine-tuning buys."""
    from whisper_tune.demo_data import demo_terms
    from whisper_tune.deploy import glossary_prompt

    prompt = glossary_prompt(demo_terms())
    return {"prompt": prompt,
            "stock": _evaluate_hf(ctx, BASE_MODEL, "glossary-stock", prompt=prompt, contexts=("full",)),
            "finetuned": _evaluate_hf(ctx, ctx.result("train")["merged"], "glossary-finetuned", prompt=prompt,
                                      contexts=("full",))}


def stage_acft(ctx: DemoContext) -> dict[str, Any]:
    from whisper_tune.acft.config import load_acft_config
    from whisper_tune.acft.runner import run_acft

    config = load_acft_config(demo_config_path("acft.yaml"), [
        f"model={ctx.result('train')['merged']}",
        f"train_manifest={ctx.result('manifest')['train']}",
        f"output_dir={ctx.runs / 'acft'}",
        "resume=auto",
    ])
    result = run_acft(config)
    return {"model": str(result.model_dir), "steps": result.steps, "final_loss": result.final_loss,
            "seconds": result.seconds}


def stage_acft_eval(ctx: DemoContext) -> dict[str, Any]:
    return _evaluate_hf(ctx, ctx.result("acft")["model"], "acft")


def stage_export(ctx: DemoContext) -> dict[str, Any]:
    from whisper_tune.export.exporter import export_ggml

    model = ctx.result("acft")["model"]
    ctx.models.mkdir(parents=True, exist_ok=True)
    files = {}
    for dtype in ("f16", "q8_0"):
        result = export_ggml(model, dtype, ctx.models, futo=True)
        files[dtype] = {"path": str(result.path), "size_bytes": result.size_bytes, "sha256": result.sha256,
                        "seconds": round(result.seconds, 2)}
    return {"files": files, "f16": files["f16"]["path"], "q8_0": files["q8_0"]["path"]}


def stage_verify(ctx: DemoContext) -> dict[str, Any]:
    exported = ctx.result("export")
    return verify_exports({dtype: exported[dtype] for dtype in ("f16", "q8_0")}, ctx.result("acft")["model"],
                          ctx.result("manifest")["heldout"], ctx.reports)


def verify_exports(exported: dict[str, str], reference: str, heldout: str, reports: Path) -> dict[str, Any]:
    """Verify each exported file against ``reference`` (short audio on q8_0, what FUTO runs).

    One pass for all files: the reference model decodes the clips once while the files'
    whisper.cpp workers run beside it (:func:`~whisper_tune.verify.verify.verify_all`).
    """
    from whisper_tune.evaluation.eval import load_clips
    from whisper_tune.verify.verify import VerifyTarget, verify_all

    targets = [VerifyTarget(path, short_audio=dtype == "q8_0", report_dir=reports / f"verify-{dtype}")
               for dtype, path in exported.items()]
    results = verify_all(targets, reference, load_clips(heldout), max_wer_delta=MAX_WER_DELTA)
    verdicts = {}
    for dtype, report in zip(exported, results, strict=True):
        verdicts[dtype] = {
            "passed": report.passed, "reason": report.reason, "ggml_wer": report.ggml_wer,
            "model_wer": report.model_wer, "exact_match_rate": report.exact_match_rate,
            "real_time_factor": report.real_time_factor, "file_size": report.file_size,
            "short_audio_safe": report.short_audio_safe, "short_audio_reason": report.short_audio_reason,
            "short_audio": [row.to_dict() for row in report.short_audio],
            "report": str(reports / f"verify-{dtype}" / "verify.md"),
        }
    return verdicts


def stage_report(ctx: DemoContext) -> dict[str, Any]:
    from whisper_tune.demo_report import write_demo_report

    return write_demo_report(ctx)


STAGES: tuple[Stage, ...] = (
    Stage("manifest", "Build and validate manifests of the bundled dataset", stage_manifest,
          ("train", "val", "heldout")),
    Stage("baseline", "Baseline: stock tiny.en on the held-out clips", stage_baseline, ("report",)),
    Stage("train", "LoRA fine-tuning (then merge)", stage_train, ("merged",)),
    Stage("finetuned", "Fine-tuned model on the held-out clips", stage_finetuned, ("report",)),
    Stage("glossary", "Stock and fine-tuned with the terms as FUTO's glossary prompt", stage_glossary, ()),
    Stage("acft", "ACFT: audio-context fine-tuning for FUTO's short contexts", stage_acft, ("model",)),
    Stage("acft_eval", "ACFT model on the held-out clips", stage_acft_eval, ("report",)),
    Stage("export", "Export GGML f16 and q8_0 (FUTO's names)", stage_export, ("f16", "q8_0")),
    Stage("verify", "Verify in whisper.cpp (short audio included)", stage_verify, ()),
    Stage("report", "Write the report", stage_report, ("report",)),
)


# --- driver ----------------------------------------------------------------------------------


def run_demo(out: str | Path = "demo-out", restart: bool = False) -> dict[str, Any]:
    """Run every stage not already done; returns the final state (per-stage results)."""
    from rich.console import Console

    console = Console(stderr=True, soft_wrap=True)  # progress on stderr, lines unwrapped
    ctx = DemoContext(Path(out).resolve())
    ctx.out.mkdir(parents=True, exist_ok=True)
    state_path = ctx.out / STATE_FILE
    if state_path.is_file() and not restart:
        ctx.state = json.loads(state_path.read_text(encoding="utf-8"))
    started = time.perf_counter()
    for number, stage in enumerate(STAGES, 1):
        header = f"[{number}/{len(STAGES)}] {stage.title}"
        if _is_done(ctx, stage):
            console.print(f"[dim]{header}: done earlier, skipped[/dim]")
            continue
        console.rule(header)
        stage_started = time.perf_counter()
        result = stage.run(ctx)
        ctx.state[stage.name] = {"result": result, "seconds": round(time.perf_counter() - stage_started, 1)}
        atomic_write_json(state_path, ctx.state)
        console.print(f"[green]{stage.name} finished in {ctx.state[stage.name]['seconds']:.0f} s[/green]")
    total = sum(entry["seconds"] for entry in ctx.state.values())
    console.rule(f"demo complete: {ctx.out / REPORT_FILE} ({total / 60:.1f} min of stage time, "
                 f"{(time.perf_counter() - started) / 60:.1f} min this run)")
    return ctx.state


def _is_done(ctx: DemoContext, stage: Stage) -> bool:
    entry = ctx.state.get(stage.name)
    if not entry:
        return False
    result = entry.get("result", {})
    return all(Path(result[key]).exists() for key in stage.outputs if key in result)


def _evaluate_hf(ctx: DemoContext, model: str, name: str, prompt: str = "",
                 contexts: tuple[str, ...] = ("full", "futo")) -> dict[str, Any]:
    """Held-out WER at full context and FUTO's context, plus per-term hits, for one model."""
    from whisper_tune.demo_data import demo_terms, term_hits
    from whisper_tune.evaluation.eval import evaluate, load_clips
    from whisper_tune.models import load_model, load_processor
    from whisper_tune.transcribe import DecodeOptions

    clips = load_clips(ctx.result("manifest")["heldout"])
    hf_model, processor = load_model(model), load_processor(model)
    folder = ctx.reports / name
    options = DecodeOptions(max_tokens=EVAL_MAX_TOKENS, prompt=prompt)
    reports = {audio_ctx: evaluate(model, clips, "hf", audio_ctx, options, report_dir=folder / audio_ctx,
                                   hf_model=hf_model, hf_processor=processor) for audio_ctx in contexts}
    full = reports["full"]
    hits = term_hits([r.reference for r in full.rows], [r.hypothesis for r in full.rows], demo_terms())
    summary = {"model": model, **{ctx_: report.totals() for ctx_, report in reports.items()},
               "terms": {c.term: [c.hit, c.said] for c in hits}, "report": str(folder)}
    atomic_write_json(folder / "summary.json", summary)
    return summary


def _count_rows(manifest: Path) -> int:
    from whisper_tune.data.manifest import read_manifest

    return len(read_manifest(manifest)) if manifest.is_file() else 0


def describe_pipeline() -> str:
    """The stages as a numbered list (for ``--help`` and the report)."""
    return "\n".join(f"{i}. {stage.title}" for i, stage in enumerate(STAGES, 1))
