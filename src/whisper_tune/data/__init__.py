"""Speech data: manifests (build, read, write, validate, split) and the feature pipeline.

* :mod:`whisper_tune.data.manifest` - the manifest CSV (``ManifestRow``, read/write)
* :mod:`whisper_tune.data.sources` - folders, tables, Kaldi, Hugging Face layouts
* :mod:`whisper_tune.data.validate` - per-clip checks; :mod:`~whisper_tune.data.report` the report
* :mod:`whisper_tune.data.splits` - deterministic splits; :mod:`~whisper_tune.data.build` build/validate
* :mod:`whisper_tune.data.features` - log-mel and the feature cache
* :mod:`whisper_tune.data.dataset` - ``SpeechDataset`` and length-grouped batches
"""

from whisper_tune.data.dataset import SpeechDataset, length_grouped_batches
from whisper_tune.data.features import FeatureCache, content_frames, log_mel
from whisper_tune.data.manifest import ManifestRow, read_manifest, write_manifest

__all__ = [
    "FeatureCache",
    "ManifestRow",
    "SpeechDataset",
    "content_frames",
    "length_grouped_batches",
    "log_mel",
    "read_manifest",
    "write_manifest",
]
