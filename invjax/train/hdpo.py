"""HDPO: follow the exact pathwise gradient of the hindsight cost with optax.

`make_train(problem, policy, config)` returns a `Trainer` of pure functions; its
`train(key)` samples the data, initialises and runs every epoch in one jittable
program, so `jax.vmap(trainer.train)(keys)` trains several seeds at once. The CLI
drives the same pieces (`init`, `run`) in chunks to show progress and checkpoint.

With `estimator="reinforce"` the same loop follows the score-function gradient of a
perturbed policy instead (`invjax.train.reinforce`): same data, steps and periods.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 4 (HDPO); SPEC §5.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax
from flax import struct

from invjax.dynamics import Action
from invjax.policies.policy import Policy
from invjax.problem import Problem
from invjax.rollout import hindsight_cost, simulate
from invjax.scenarios import Horizon, Scenarios, sample
from invjax.train import parallel, reinforce

ESTIMATORS = ("hdpo", "reinforce")
SCHEDULES = ("constant", "cosine")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of HDPO training (hashable)."""

    learning_rate: float = 3e-3
    batch_size: int = 1024
    epochs: int = 100
    eval_every: int = 5  # epochs between dev evaluations
    patience: Optional[int] = None  # evaluations without dev improvement before stopping
    clip_norm: Optional[float] = None  # optax.clip_by_global_norm
    schedule: str = "constant"  # "constant" | "cosine" (decay to 0 over all steps)
    estimator: str = "hdpo"  # "hdpo" | "reinforce"
    # REINFORCE only (invjax.train.reinforce):
    baseline: str = "batch_mean"  # "none" | "batch_mean" | "value"
    noise_scale: float = 0.2  # order noise std / mean demand through the location
    learn_noise: bool = False  # learn the noise scale by its score-function gradient
    value_learning_rate: float = 1e-2  # Adam for the value baseline (and learned scale)
    train: Horizon = Horizon(32_768, 50, 30)
    dev: Horizon = Horizon(32_768, 100, 60)
    test: Horizon = Horizon(32_768, 5_000, 3_000)
    round_test_orders: Optional[bool] = None  # None: round when demand is Poisson
    batch_splits: int = 1  # independent sub-batch rollouts per step (2-4 speed up the
    # symmetry-aware net on CPU; see invjax.rollout.hindsight_cost)

    def __post_init__(self):
        checks = {
            "learning_rate": self.learning_rate > 0,
            "batch_size": self.batch_size >= 1,
            "epochs": self.epochs >= 1,
            "eval_every": self.eval_every >= 1,
            "patience": self.patience is None or self.patience >= 1,
            "clip_norm": self.clip_norm is None or self.clip_norm > 0,
            "noise_scale": self.noise_scale > 0,
            "value_learning_rate": self.value_learning_rate > 0,
        }
        for field, ok in checks.items():
            if not ok:
                raise ValueError(f"trainer.{field}: invalid value {getattr(self, field)!r}")
        if not (isinstance(self.batch_splits, int) and self.batch_splits >= 1
                and self.batch_size % self.batch_splits == 0):
            raise ValueError(
                f"trainer.batch_splits: {self.batch_splits!r}; allowed: a positive integer "
                f"dividing trainer.batch_size ({self.batch_size})"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(f"trainer.schedule: {self.schedule!r}; allowed: {list(SCHEDULES)}")
        if self.estimator not in ESTIMATORS:
            raise ValueError(
                f"trainer.estimator: {self.estimator!r}; allowed: {list(ESTIMATORS)}"
            )
        if self.baseline not in reinforce.BASELINES:
            raise ValueError(
                f"trainer.baseline: {self.baseline!r}; allowed: {list(reinforce.BASELINES)}"
            )
        for split in ("train", "dev", "test"):
            object.__setattr__(self, split, Horizon(*(int(x) for x in getattr(self, split))))
        if self.batch_size > self.train.n:
            raise ValueError(
                f"trainer.batch_size: {self.batch_size} exceeds the {self.train.n} "
                "training scenarios"
            )

    @property
    def steps_per_epoch(self) -> int:
        return self.train.n // self.batch_size


@struct.dataclass
class TrainState:
    """Everything a run needs to continue exactly where it stopped."""

    params: Any
    opt_state: Any
    best_params: Any
    best_dev: jnp.ndarray  # [] best dev cost so far (inf before the first evaluation)
    key: jax.Array  # typed PRNG key for minibatch shuffling
    epoch: jnp.ndarray  # [] int32 epochs done
    evals_since_best: jnp.ndarray  # [] int32
    stopped: jnp.ndarray  # [] bool: early stop or NaN
    nan: jnp.ndarray  # [] bool: a non-finite loss or gradient was met


class EpochMetrics(NamedTuple):
    """Metrics of `run`: a training loss per epoch, one dev evaluation at the end."""

    train_loss: jnp.ndarray  # [epochs] mean hindsight cost over each epoch's minibatches
    dev_cost: jnp.ndarray  # [] dev cost after warm-up (nan when stopped)
    best_dev: jnp.ndarray  # []


class Trainer(NamedTuple):
    """Pure pieces of an HDPO run."""

    data: Callable[[jax.Array], dict]  # key -> {"train", "dev"} scenarios
    init: Callable[[jax.Array], TrainState]
    run: Callable[[TrainState, dict, int], tuple]  # (state, data, epochs) -> (state, metrics), jitted
    evaluate: Callable[[Any, Scenarios], jnp.ndarray]  # (params, scenarios) -> cost
    train: Callable[[jax.Array], tuple]  # key -> (state, metrics): the whole run
    optimizer: optax.GradientTransformation


def _select(flag, a, b):
    return jax.tree.map(lambda x, y: jnp.where(flag, x, y), a, b)


def _all_finite(tree) -> jnp.ndarray:
    return jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]).all()


def rounded(policy):
    """The policy with every order rounded to an integer (for integer demand)."""

    def apply(params, obs):
        action = policy.apply(params, obs)
        return Action(*(None if a is None else jnp.round(a) for a in action))

    return Policy(policy.init, apply)


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """Adam (no weight decay), optional global-norm clipping and cosine decay."""
    steps = config.epochs * config.steps_per_epoch
    lr = config.learning_rate
    if config.schedule == "cosine":
        lr = optax.cosine_decay_schedule(config.learning_rate, steps)
    chain = [optax.clip_by_global_norm(config.clip_norm)] if config.clip_norm else []
    return optax.chain(*chain, optax.adam(lr))


def make_train(problem: Problem, policy, config: TrainConfig = TrainConfig(),
               mesh=None) -> Trainer:
    """Builds the pure functions of an HDPO (or REINFORCE) run of `policy` on `problem`.

    Under `estimator="reinforce"`, `TrainState.opt_state` is the pair (policy optimizer
    state, (aux params, aux optimizer state)), aux = {"log_scale"[, "value"]}; `params`
    and `best_params` stay the deterministic policy's parameters.

    With `mesh` (`parallel.data_mesh()`), scenarios and minibatches are split over its
    devices: data parallelism, same loss and gradient.

    References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Algorithm 1.
    """
    optimizer = make_optimizer(config)
    batch, steps = config.batch_size, config.steps_per_epoch
    round_test = config.round_test_orders
    if round_test is None:
        round_test = problem.structure.demand.distribution == "poisson"
    test_policy = rounded(policy) if round_test else policy
    estimator = None
    if config.estimator == "reinforce":
        estimator = reinforce.make_estimator(problem, policy, config)
    shard = parallel.batch_constraint(mesh, config)  # identity without a mesh

    def data(key):
        k_train, k_dev = jax.random.split(key)
        return shard({
            "train": sample(problem, k_train, *config.train),
            "dev": sample(problem, k_dev, *config.dev),
        })

    def init(key):
        k_params, k_shuffle = jax.random.split(key)  # HDPO and REINFORCE: same init
        params = policy.init(k_params)
        opt_state = optimizer.init(params)
        if estimator is not None:  # (policy optimizer state, estimator's own state)
            k_shuffle, k_extra = jax.random.split(k_shuffle)
            opt_state = (opt_state, estimator.init(k_extra, params))
        return TrainState(
            params=params,
            opt_state=opt_state,
            best_params=params,
            best_dev=jnp.asarray(jnp.inf, jnp.float32),
            key=k_shuffle,
            epoch=jnp.zeros((), jnp.int32),
            evals_since_best=jnp.zeros((), jnp.int32),
            stopped=jnp.zeros((), bool),
            nan=jnp.zeros((), bool),
        )

    def loss(params, scenarios):
        return hindsight_cost(problem, policy, params, scenarios, 0,
                              splits=config.batch_splits)

    def estimate(params, opt_state, scenarios, key):
        """(loss, policy gradient, new estimator state or None)."""
        if estimator is None:
            return (*jax.value_and_grad(loss)(params, scenarios), None)
        return estimator.step(params, opt_state[1], scenarios, jax.random.wrap_key_data(key))

    def minibatch_step(train_data, carry, xs):
        params, opt_state, bad = carry
        index, key = xs
        scenarios = shard(jax.tree.map(lambda x: x[index], train_data))
        value, grads, extra = estimate(params, opt_state, scenarios, key)
        finite = jnp.isfinite(value) & _all_finite((grads, extra))
        policy_state = opt_state if estimator is None else opt_state[0]
        updates, new_opt = optimizer.update(grads, policy_state, params)
        if estimator is not None:
            new_opt = (new_opt, extra)
        keep = finite & ~bad
        params = _select(keep, optax.apply_updates(params, updates), params)
        opt_state = _select(keep, new_opt, opt_state)
        return (params, opt_state, bad | ~finite), value

    def evaluate_dev(params, dev):
        return simulate(problem, policy, params, dev, record=False).mean_cost

    def epoch_or_skip(state: TrainState, train_data):
        # The key is split outside `cond`: under `vmap` both branches run, and a key
        # consumed in one branch only would count as reused.
        if estimator is None:
            key, k_perm = jax.random.split(state.key)
            step_keys = None
        else:
            key, k_perm, k_noise = jax.random.split(state.key, 3)
            # Raw key data into `cond`: the same vmap caveat holds for keys used inside.
            step_keys = jax.random.key_data(jax.random.split(k_noise, steps))
        order = jax.random.permutation(k_perm, config.train.n)[: steps * batch]

        def one_epoch(carry):
            (params, opt_state, bad), losses = jax.lax.scan(
                functools.partial(minibatch_step, train_data), carry,
                (order.reshape(steps, batch), step_keys),
            )
            return (params, opt_state, bad), losses.mean()

        skip = lambda carry: (carry, jnp.float32(jnp.nan))  # noqa: E731
        (params, opt_state, bad), loss = jax.lax.cond(
            state.stopped, skip, one_epoch, (state.params, state.opt_state, state.nan)
        )
        new = state.replace(
            params=params, opt_state=opt_state, key=key,
            epoch=state.epoch + (~state.stopped).astype(jnp.int32),
            stopped=state.stopped | bad, nan=bad,
        )
        return new, loss

    def run(state: TrainState, data_: dict, epochs: int):
        """`epochs` epochs (skipped once stopped), then one dev evaluation."""
        was_stopped = state.stopped
        state, losses = jax.lax.scan(
            lambda s, _: epoch_or_skip(s, data_["train"]), state, None, length=epochs
        )
        evaluated = ~was_stopped & ~state.nan
        dev_cost = jnp.where(evaluated, evaluate_dev(state.params, data_["dev"]), jnp.nan)
        improved = evaluated & (dev_cost < state.best_dev)
        evals_since = jnp.where(improved, 0, state.evals_since_best + evaluated)
        out_of_patience = (
            evals_since >= config.patience if config.patience else jnp.zeros((), bool)
        )
        state = state.replace(
            best_params=_select(improved, state.params, state.best_params),
            best_dev=jnp.where(improved, dev_cost, state.best_dev),
            evals_since_best=evals_since,
            stopped=state.stopped | out_of_patience,
        )
        return state, EpochMetrics(losses, dev_cost, state.best_dev)

    run_jit = jax.jit(run, static_argnums=2)

    def evaluate(params, scenarios: Scenarios):
        return simulate(problem, test_policy, params, scenarios, record=False).mean_cost

    def train(key):
        """The whole run; metrics hold one entry per dev evaluation."""
        k_data, k_init = jax.random.split(key)
        data_ = data(k_data)
        chunks, rest = divmod(config.epochs, config.eval_every)
        state, metrics = jax.lax.scan(
            lambda s, _: run(s, data_, config.eval_every), init(k_init), None, length=chunks
        )
        metrics = metrics._replace(train_loss=metrics.train_loss.reshape(-1))
        if rest:
            state, last = run(state, data_, rest)
            metrics = jax.tree.map(
                lambda a, b: jnp.concatenate([a, b.reshape(-1)]), metrics, last
            )
        return state, metrics

    return Trainer(data, init, run_jit, evaluate, train, optimizer)
