"""ACFT: FUTO's audio-context fine-tuning (docs/ACFT.md).

* :mod:`whisper_tune.acft.context` - which encoder context a batch trains at
* :mod:`whisper_tune.acft.distillation_loss` - the loss: short-context student vs full-context reference
* :mod:`whisper_tune.acft.config` - :class:`AcftConfig` and :func:`load_acft_config`
* :mod:`whisper_tune.acft.runner` - :func:`run_acft` (ACFT on the shared training loop)
"""
