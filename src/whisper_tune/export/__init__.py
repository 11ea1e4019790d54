"""Hugging Face Whisper -> whisper.cpp GGML export: renames, mel filters, vocabulary, names."""
