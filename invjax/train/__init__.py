"""Training: HDPO or REINFORCE (`make_train`) and the run driver behind the CLI (`fit`)."""

from invjax.train.hdpo import (
    EpochMetrics,
    TrainConfig,
    Trainer,
    TrainState,
    make_optimizer,
    make_train,
    rounded,
)
from invjax.train.reinforce import BASELINES, perturbed_cost, reinforce_grad
