"""Speech recognition: audio manifests -> log-mel or MFCC features -> a CTC recognizer (stacked
frames, optional convolutions, a stacked (bi)directional RNN) trained with the shared loop -> greedy or
prefix beam-search decoding with an optional n-gram model, WER/CER/SER, word timestamps, streaming.

`training` reads and encodes data and trains; `recognize` loads a run and transcribes, scores and
streams; `outputs` writes transcripts as text, JSON or SubRip subtitles.
"""

from rnnkit.tasks.speech.recognize import Decoding, Recognizer, StreamingRecognizer, Transcript, evaluate_run
from rnnkit.tasks.speech.training import PRESETS, SpeechDataConfig, preset_configs, resume, train, write_language_model

__all__ = ["Decoding", "PRESETS", "Recognizer", "SpeechDataConfig", "StreamingRecognizer", "Transcript", "evaluate_run",
           "preset_configs", "resume", "train", "write_language_model"]
