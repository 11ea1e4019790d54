"""The Hugging Face Hub: pushing a finished model with a model card (``whisper-tune push``,
``push_to_hub`` in train/ACFT configs)."""
