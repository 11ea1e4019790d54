"""Cloud runs: ``train``/``acft --cloud modal`` and the Modal app behind them.

* :mod:`whisper_tune.cloud.layout` - the Volume's folders, the GPUs, the job options;
* :mod:`whisper_tune.cloud.staging` - a local config becomes a job: local audio and model
  folders are named by content (sha256) so a rerun uploads nothing new;
* :mod:`whisper_tune.cloud.volume_io` - uploading what is missing, downloading a run folder;
* :mod:`whisper_tune.cloud.job` - the function body: the unchanged ``train``/``acft`` run on
  the Volume, resumed from its last checkpoint when Modal retries it;
* :mod:`whisper_tune.cloud.modal_app` - the Modal app (``modal run``/``modal deploy`` accept it);
* :mod:`whisper_tune.cloud.submit` - what the CLI calls: plan, upload, run, stream, download.
"""
