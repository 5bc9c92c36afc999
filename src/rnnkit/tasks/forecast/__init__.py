"""Time-series forecasting: a table with a time column -> scaled windows -> a Forecaster trained with
the shared loop, scored next to persistence, seasonal naive and a linear model, forecasts past the
end of the data; and anomaly scores from the forecaster's errors (Malhotra et al. 2015).

`core` reads, trains, evaluates and predicts; `detect` scores every time step of a series.
"""

from rnnkit.tasks.forecast.core import (
    BASELINES,
    TASK,
    ForecastDataConfig,
    Frame,
    LoadedRun,
    evaluate_run,
    fit_linear_baseline,
    load_frame,
    load_run,
    make_frame,
    predict,
    resume,
    train,
    validation_metrics,
    windows,
)
from rnnkit.tasks.forecast.detect import detect

__all__ = ["BASELINES", "TASK", "ForecastDataConfig", "Frame", "LoadedRun", "detect", "evaluate_run", "fit_linear_baseline", "load_frame",
           "load_run", "make_frame", "predict", "resume", "train", "validation_metrics", "windows"]
