"""``whisper-tune record``: turn a word list into a training set, read aloud in the browser.

* :mod:`~whisper_tune.record.prompts` - terms and carrier phrases -> prompts;
* :mod:`~whisper_tune.record.takes` - decoding and checking one take (silence, clipping, cut-off);
* :mod:`~whisper_tune.record.storage` - the recordings folder: takes, transcripts, prompts.csv;
* :mod:`~whisper_tune.record.server` - the local page (``page/``) and its small HTTP API.
"""
