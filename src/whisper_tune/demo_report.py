"""The demo's report: REPORT.md with PNG plots, from the stages' recorded results."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from whisper_tune.fileio import atomic_open, atomic_write_text

if TYPE_CHECKING:
    from whisper_tune.demo import DemoContext

MODELS = (("baseline", "stock tiny.en"), ("finetuned", "LoRA fine-tuned"), ("acft_eval", "fine-tuned + ACFT"))


def write_demo_report(ctx: DemoContext) -> dict[str, Any]:
    plots = ctx.out / "plots"
    wer_png = plot_wer(ctx, plots / "heldout_wer.png")
    terms_png = plot_terms(ctx, plots / "term_hits.png")
    report = ctx.out / "REPORT.md"
    atomic_write_text(report, render_markdown(ctx, wer_png, terms_png))
    return {"report": str(report), "plots": [str(wer_png), str(terms_png)]}


def render_markdown(ctx: DemoContext, wer_png: Path, terms_png: Path) -> str:
    data = ctx.result("manifest")["clips"]
    train = ctx.result("train")
    exported = ctx.result("export")["files"]
    verdicts = ctx.result("verify")
    lines = [
        "# whisper-tune demo report", "",
        f"Embedded tiny.en fine-tuned on {data['train']} synthesized DevOps dictation clips "
        f"({data['val']} for validation), evaluated on {data['heldout']} held-out clips "
        "(new sentences, unseen voices).", "",
        "## Held-out WER", "",
        "| model | WER, full context | WER, FUTO context | loops at FUTO context |", "|---|---|---|---|",
    ]
    for key, label in MODELS:
        result = ctx.result(key)
        lines.append(f"| {label} | {result['full']['wer']:.1%} | {result['futo']['wer']:.1%} | "
                     f"{result['futo']['loops']}/{result['futo']['clips']} |")
    q8 = verdicts["q8_0"]
    if q8.get("ggml_wer") is not None:
        lines.append(f"| q8_0 in whisper.cpp | {q8['ggml_wer']:.1%} | | |")
    lines += ["", f"![held-out WER]({wer_png.relative_to(ctx.out)})", "",
              "## Domain terms (hit rate on held-out clips, full context)", "",
              "| term | stock | fine-tuned | + ACFT |", "|---|---|---|---|"]
    for term, (hit, said) in ctx.result("baseline")["terms"].items():
        tuned = ctx.result("finetuned")["terms"][term]
        acft = ctx.result("acft_eval")["terms"][term]
        lines.append(f"| {term} | {hit}/{said} | {tuned[0]}/{tuned[1]} | {acft[0]}/{acft[1]} |")
    lines += [
        "",
        f"![term hit rates]({terms_png.relative_to(ctx.out)})",
        "",
        *glossary_section(ctx),
        "",
        "## Files and verdicts",
        "",
        "| file | size | verify | whisper.cpp WER | reference WER | identical tokens |",
        "|---|---|---|---|---|---|",
    ]
    for dtype, info in exported.items():
        verdict = verdicts[dtype]
        lines.append(
            f"| {Path(info['path']).name} | {info['size_bytes'] / 1e6:.1f} MB | "
            f"{'PASS' if verdict['passed'] else 'FAIL'}: {verdict['reason']} | {_pct(verdict['ggml_wer'])} | "
            f"{_pct(verdict['model_wer'])} | {_pct(verdict['exact_match_rate'])} |")
    safe = q8.get("short_audio_safe")
    lines += ["", f"## Short audio (FUTO Voice Input): {'safe' if safe else 'NOT safe'}", "",
              q8.get("short_audio_reason", ""), "",
              "| audio_ctx | WER | loops | used by FUTO |", "|---|---|---|---|"]
    for row in q8.get("short_audio", []):
        lines.append(f"| {row['audio_ctx']} | {row['wer']:.1%} | {row['loops']}/{row['clips']} | "
                     f"{'yes' if row['deployed'] else ''} |")
    lines += ["", "## Run", "",
              f"- training: {train['steps']} steps, {train['samples_per_second']:.1f} samples/s",
              "- stage times: " + ", ".join(f"{name} {entry['seconds']:.0f} s" for name, entry in ctx.state.items()),
              f"- detailed reports: {Path('reports')}/ (per-clip tables of every evaluation and verification)", ""]
    return "\n".join(lines)


def plot_wer(ctx: DemoContext, path: Path) -> Path:
    labels = [label for _, label in MODELS]
    full = [ctx.result(key)["full"]["wer"] * 100 for key, _ in MODELS]
    futo = [ctx.result(key)["futo"]["wer"] * 100 for key, _ in MODELS]
    fig, ax = _figure()
    positions = range(len(labels))
    ax.bar([p - 0.2 for p in positions], full, width=0.4, label="full context")
    ax.bar([p + 0.2 for p in positions], futo, width=0.4, label="FUTO context")
    ax.set_xticks(list(positions), labels)
    ax.set_ylabel("held-out WER (%)")
    ax.set_title("Held-out WER before and after")
    ax.legend()
    return _save(fig, path)


def glossary_section(ctx: DemoContext) -> list[str]:
    """Fine-tuning against FUTO's personal dictionary (the terms as the glossary prompt)."""
    if "glossary" not in ctx.state:
        return []
    glossary = ctx.result("glossary")
    rows = (("stock tiny.en", ctx.result("baseline")), ("stock + glossary", glossary["stock"]),
            ("LoRA fine-tuned", ctx.result("finetuned")), ("fine-tuned + glossary", glossary["finetuned"]))
    lines = ["## Fine-tuning against the glossary", "",
             "A FUTO user's alternative to fine-tuning is the personal dictionary, which FUTO's apps pass as "
             f"the prompt `{glossary['prompt'][:60]}...`. Held-out clips, full context, greedy:", "",
             "| model | WER | domain terms heard |", "|---|---|---|"]
    for label, result in rows:
        hit = sum(h for h, _ in result["terms"].values())
        said = sum(s for _, s in result["terms"].values())
        lines.append(f"| {label} | {result['full']['wer']:.1%} | {hit}/{said} |")
    return lines


def plot_terms(ctx: DemoContext, path: Path) -> Path:
    before = ctx.result("baseline")["terms"]
    after = ctx.result("acft_eval")["terms"]
    terms = list(before)
    fig, ax = _figure(height=0.3 * len(terms) + 1.5)
    rows = range(len(terms))
    ax.barh([r + 0.2 for r in rows], [_rate(before[t]) for t in terms], height=0.4, label="stock")
    ax.barh([r - 0.2 for r in rows], [_rate(after[t]) for t in terms], height=0.4, label="fine-tuned + ACFT")
    ax.set_yticks(list(rows), terms)
    ax.invert_yaxis()
    ax.set_xlabel("hit rate on held-out clips (%)")
    ax.set_xlim(0, 100)
    ax.legend(loc="lower right")
    return _save(fig, path)


def _figure(height: float = 4.0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(7, height))


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)
    return path


def _rate(pair: list[int]) -> float:
    hit, said = pair
    return 100.0 * hit / said if said else 0.0


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"
