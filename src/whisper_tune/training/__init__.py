"""Fine-tuning Whisper: typed configs, methods, the generic loop, checkpoints, reports.

* :mod:`~whisper_tune.training.config` - ``LoopConfig`` (any task), ``TrainConfig``,
  ``load_train_config``
* :mod:`~whisper_tune.training.labels` - decoder inputs and labels
* :mod:`~whisper_tune.training.batching` - batches and the encoder context of each
* :mod:`~whisper_tune.training.adapters` - ``apply_method`` / ``save_trained`` (lora, dora,
  pissa, full)
* :mod:`~whisper_tune.training.loop` - ``run_loop`` and the ``TrainingTask`` protocol (also used
  by :mod:`whisper_tune.acft`)
* :mod:`~whisper_tune.training.checkpoint` - resumable checkpoints
* :mod:`~whisper_tune.training.recipe` - ``train(config) -> TrainResult``
* :mod:`~whisper_tune.training.report` - plots and ``summary.md``

Nothing is imported here, so that ``whisper-tune config show`` stays fast (no torch).
"""
