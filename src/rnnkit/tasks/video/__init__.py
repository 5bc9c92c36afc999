"""Video analysis. `pose`: action recognition from skeleton sequences (MSR Action3D's layout or a
generic one) with a whole-body RNN or Du et al.'s hierarchical body-part RNN."""

from rnnkit.tasks.video.pose import PoseDataConfig, action_set, evaluate_run, load_poses, predict, resume, train

__all__ = ["PoseDataConfig", "action_set", "evaluate_run", "load_poses", "predict", "resume", "train"]
