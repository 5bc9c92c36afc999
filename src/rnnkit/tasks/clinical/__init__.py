"""Clinical risk from irregular records: long-format stays -> cleaned, z-scored values, masks and
times since last observation (raw times or a regular grid) -> GRU-D or GRU-simple with the shared
loop -> risk per stay or after every step, scored beside a logistic regression on summary features.

`training` reads, splits, fits statistics and trains; `scoring` loads a run, evaluates (also from
the first K hours), predicts and plots.
"""

from rnnkit.tasks.clinical.scoring import ClinicalRun, RiskMonitor, evaluate_run, plot_decays, predict
from rnnkit.tasks.clinical.training import ClinicalDataConfig, load_cohort, resume, train

__all__ = ["ClinicalDataConfig", "ClinicalRun", "evaluate_run", "load_cohort", "plot_decays", "predict", "RiskMonitor", "resume", "train"]
