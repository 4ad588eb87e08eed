"""HDPO on sales windows: Adam on the exact pathwise gradient of the training window's
profit, the best parameters by dev profit kept.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 4 (Algorithm 1) and
Section 7; SPEC §5, §10.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import numpy as np
import optax

from invjax.problem import Problem
from invjax.sales.rollout import rollout
from invjax.sales.windows import SalesSplit


@dataclasses.dataclass(frozen=True)
class SalesTrainConfig:
    """Hyperparameters of a sales HDPO run (hashable)."""

    learning_rate: float = 3e-3
    steps: int = 600  # full-batch gradient steps on the training window
    eval_every: int = 25  # steps between dev evaluations
    forecast_steps: int = 3000  # pinball-loss steps of the quantile forecaster

    def __post_init__(self):
        for field in ("learning_rate", "steps", "eval_every", "forecast_steps"):
            if not getattr(self, field) > 0:
                raise ValueError(f"trainer.{field}: must be > 0, got {getattr(self, field)}")


class TrainHistory(NamedTuple):
    train_profit: np.ndarray  # [steps] training-window profit per store per period
    dev_profit: np.ndarray  # [evaluations]
    best_dev: float


@functools.partial(jax.jit, static_argnames=("policy", "optimizer", "steps"))
def _chunk(problem, policy, optimizer, params, opt_state, train: SalesSplit, steps: int):
    def loss(p):
        return -rollout(problem, policy, p, train).mean_profit

    def step(carry, _):
        params, opt_state = carry
        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), -value

    return jax.lax.scan(step, (params, opt_state), None, length=steps)


def train(problem: Problem, policy: Any, params: Any, train_split: SalesSplit,
          dev_split: SalesSplit, config: SalesTrainConfig = SalesTrainConfig()):
    """Trains `params` of `policy` by HDPO; returns (best params by dev, TrainHistory)."""
    optimizer = optax.adam(config.learning_rate)
    opt_state = optimizer.init(params)
    best, best_dev = params, float(rollout(problem, policy, params, dev_split).mean_profit)
    train_profit, dev_profit = [], [best_dev]
    done = 0
    while done < config.steps:
        steps = min(config.eval_every, config.steps - done)
        (params, opt_state), profits = _chunk(problem, policy, optimizer, params, opt_state,
                                              train_split, steps)
        done += steps
        train_profit.append(np.asarray(profits))
        dev = float(rollout(problem, policy, params, dev_split).mean_profit)
        dev_profit.append(dev)
        if np.isfinite(dev) and dev > best_dev:
            best, best_dev = params, dev
    return best, TrainHistory(np.concatenate(train_profit), np.asarray(dev_profit), best_dev)
