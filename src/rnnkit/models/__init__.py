"""Whole networks built from rnnkit's layers."""

from rnnkit.models.classifier import SequenceClassifier, SequenceClassifierConfig
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig

__all__ = ["LanguageModel", "LanguageModelConfig", "SequenceClassifier", "SequenceClassifierConfig"]
