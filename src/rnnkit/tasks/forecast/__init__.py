"""Time-series forecasting: a table with a time column (or a panel of many series with an id column)
-> scaled windows -> a Forecaster trained with the shared loop, scored next to persistence, seasonal
naive and a linear model, forecasts past the end of the data; and anomaly scores from the
forecaster's errors (Malhotra et al. 2015).

`frames` turns tables into scaled features and windows; `core` trains; `inference` loads runs,
evaluates and predicts; `panel` does all three for many series; `detect` scores every time step.
"""

from rnnkit.tasks.forecast.core import fit_linear_baseline, resume, train, validation_metrics
from rnnkit.tasks.forecast.detect import detect
from rnnkit.tasks.forecast.frames import TASK, ForecastDataConfig, Frame, load_frame, make_frame, windows
from rnnkit.tasks.forecast.inference import BASELINES, LoadedRun, evaluate_run, load_run, predict

__all__ = ["BASELINES", "TASK", "ForecastDataConfig", "Frame", "LoadedRun", "detect", "evaluate_run", "fit_linear_baseline", "load_frame",
           "load_run", "make_frame", "predict", "resume", "train", "validation_metrics", "windows"]
