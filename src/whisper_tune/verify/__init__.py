"""Conversion readiness (``check_model``) and GGML-vs-reference verification (``verify``)."""

from whisper_tune.verify.check import CheckReport, Finding, check_model
from whisper_tune.verify.verify import DEFAULT_MAX_WER_DELTA, VerifyReport, verify

__all__ = ["DEFAULT_MAX_WER_DELTA", "CheckReport", "Finding", "VerifyReport", "check_model", "verify"]
