"""Whole networks built from rnnkit's layers."""

from rnnkit.models.language_model import LanguageModel, LanguageModelConfig

__all__ = ["LanguageModel", "LanguageModelConfig"]
