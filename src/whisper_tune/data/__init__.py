"""Speech data: manifests (build, read, write, validate, split) and the feature pipeline.

* :mod:`whisper_tune.data.manifest` - the manifest CSV (``ManifestRow``, read/write)
* :mod:`whisper_tune.data.sources` - folders, tables, Kaldi, Hugging Face layouts
* :mod:`whisper_tune.data.validate` - per-clip checks; :mod:`~whisper_tune.data.report` the report
* :mod:`whisper_tune.data.splits` - deterministic splits; :mod:`~whisper_tune.data.build` build/validate
* :mod:`whisper_tune.data.features` - log-mel and the feature cache
* :mod:`whisper_tune.data.dataset` - ``SpeechDataset`` and length-grouped batches
"""
