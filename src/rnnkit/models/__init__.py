"""Whole networks built from rnnkit's layers."""

from rnnkit.models.baselines import LinearBaseline
from rnnkit.models.classifier import LanguageModelPretraining, SequenceClassifier, SequenceClassifierConfig
from rnnkit.models.clinical import ClinicalModel, ClinicalModelConfig
from rnnkit.models.forecaster import Forecast, Forecaster, ForecasterConfig
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.models.ngram import NGramModel
from rnnkit.models.recognizer import SpeechRecognizer, SpeechRecognizerConfig
from rnnkit.models.segrnn import SegRNN, SegRNNConfig
from rnnkit.models.transformer import (
    TransformerClassifier,
    TransformerClassifierConfig,
    TransformerLanguageModel,
    TransformerLanguageModelConfig,
)
from rnnkit.models.transformer_forecaster import TransformerForecaster, TransformerForecasterConfig

__all__ = ["ClinicalModel", "ClinicalModelConfig", "Forecast", "Forecaster", "ForecasterConfig", "LanguageModel", "LanguageModelConfig", "LanguageModelPretraining", "LinearBaseline", "NGramModel", "SegRNN", "SegRNNConfig", "SequenceClassifier",
           "SequenceClassifierConfig", "SpeechRecognizer", "SpeechRecognizerConfig",
           "TransformerClassifier", "TransformerClassifierConfig", "TransformerForecaster", "TransformerForecasterConfig",
           "TransformerLanguageModel", "TransformerLanguageModelConfig"]
