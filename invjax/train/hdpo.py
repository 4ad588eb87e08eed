"""HDPO: follow the exact pathwise gradient of the hindsight cost with optax.

`make_train(problem, policy, config)` returns a `Trainer` of pure functions; its
`train(key)` samples the data, initialises and runs every epoch in one jittable
program, so `jax.vmap(trainer.train)(keys)` trains several seeds at once. The CLI
drives the same pieces (`init`, `run`) in chunks to show progress and checkpoint.

With `estimator="reinforce"` the same loop follows the score-function gradient of a
perturbed policy instead (`invjax.train.reinforce`): same data, steps and periods. The
estimator is a strategy (`invjax.train.estimators`), chosen once from the config.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 4 (HDPO); SPEC §5.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pydantic
from flax import struct

from invjax.dynamics import Action
from invjax.policies.policy import Policy
from invjax.problem import Problem
from invjax.rollout import hindsight_cost, simulate
from invjax.scenarios import Horizon, Scenarios, sample
from invjax.train import estimators, parallel, reinforce, schema

ESTIMATORS = ("hdpo", "reinforce")
SCHEDULES = ("constant", "cosine")
LOSS_PERIODS = ("all", "after_warmup")  # which periods of a training trace the loss counts


@schema.checked("trainer")
@pydantic.dataclasses.dataclass(frozen=True, config=pydantic.ConfigDict(extra="forbid"))
class TrainConfig:
    """Hyperparameters of HDPO training (hashable; a bad value raises a one-line
    ValueError naming `trainer.FIELD`)."""

    learning_rate: schema.Positive = 3e-3
    batch_size: schema.AtLeastOne = 1024
    epochs: schema.AtLeastOne = 100
    eval_every: schema.AtLeastOne = 5  # epochs between dev evaluations
    # Dev evaluations without improvement before stopping (None: never stop early).
    patience: Optional[schema.AtLeastOne] = None
    clip_norm: Optional[schema.Positive] = None  # optax.clip_by_global_norm
    schedule: Annotated[str, schema.choice(*SCHEDULES)] = "constant"  # decay to 0 over all steps
    estimator: Annotated[str, schema.choice(*ESTIMATORS)] = "hdpo"
    # "all": the paper's loss (SPEC §3). "after_warmup": leave the train split's warm-up
    # periods out of the loss (still simulated, so gradients reach the early orders
    # through the later states). On long chains the empty start-up dominates "all":
    # benchmarks/results/serial_chain_gnn_dev_curves.md.
    loss_periods: Annotated[str, schema.choice(*LOSS_PERIODS)] = "all"
    # Truncated backpropagation through time: gradients cross at most this many periods
    # of carried state (None: the exact pathwise gradient of SPEC §3). Where the policy's
    # closed loop turns unstable the exact gradient explodes (serial chains of 6+ stages:
    # benchmarks/results/serial_chain_gnn_dev_curves.md).
    backprop_periods: Optional[schema.AtLeastOne] = None
    # REINFORCE only (invjax.train.reinforce):
    baseline: Annotated[str, schema.choice(*reinforce.BASELINES)] = "batch_mean"
    noise_scale: schema.Positive = 0.2  # order noise std / mean demand through the location
    learn_noise: bool = False  # learn the noise scale by its score-function gradient
    value_learning_rate: schema.Positive = 1e-2  # Adam: value baseline, learned noise scale
    # Initial store vectors of the training traces: every slot ~ U(0, scale) x mean demand
    # (SPEC §3: 1; dev and test keep 1). Above 1 training also starts from overstocked
    # states, so the policy learns to drain them: a 128-scenario transshipment GNN that
    # never saw one fell into a 4-period order cycle holding 13 mean demands per store
    # (benchmarks/results/v3_gnn_train_start_scale.md).
    train_start_scale: schema.Positive = 1.0
    train: Horizon = Horizon(32_768, 50, 30)
    dev: Horizon = Horizon(32_768, 100, 60)
    test: Horizon = Horizon(32_768, 5_000, 3_000)
    round_test_orders: Optional[bool] = None  # None: round when demand is Poisson
    batch_splits: schema.AtLeastOne = 1  # independent sub-batch rollouts per step (2-4 speed
    # up the symmetry-aware net on CPU; see invjax.rollout.hindsight_cost)

    def __post_init__(self):
        for split in ("train", "dev", "test"):
            horizon = getattr(self, split)
            if not 0 <= horizon.ignore_periods < horizon.periods:
                raise ValueError(
                    f"trainer.{split}[2]: warm-up {horizon.ignore_periods!r}; allowed: "
                    f"0 .. {horizon.periods - 1} (fewer than its {horizon.periods} periods)"
                )
        if self.backprop_periods is not None and self.estimator != "hdpo":
            raise ValueError(
                f"trainer.backprop_periods: {self.backprop_periods!r}; allowed: None with "
                f"estimator {self.estimator!r} (it truncates the pathwise gradient of hdpo)"
            )
        if self.batch_size % self.batch_splits:
            raise ValueError(
                f"trainer.batch_splits: {self.batch_splits!r}; allowed: a positive integer "
                f"dividing trainer.batch_size ({self.batch_size})"
            )
        if self.batch_size > self.train.n:
            raise ValueError(
                f"trainer.batch_size: {self.batch_size} exceeds the {self.train.n} "
                "training scenarios (trainer.train)"
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
    # [] cost after the train warm-up of the parameters dev_cost saw, on the first
    # minibatch of training scenarios: dev's basis (train_loss counts every period
    # unless `loss_periods` says otherwise)
    train_cost: jnp.ndarray
    # [epochs] largest global norm of an epoch's raw gradients (before clipping): a
    # rollout whose closed loop turns unstable shows here first (1e2 -> 1e6 and more)
    grad_norm: jnp.ndarray


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


class _Setup(NamedTuple):
    """What the pieces of a run share."""

    problem: Problem
    policy: Any
    config: TrainConfig
    optimizer: optax.GradientTransformation
    estimator: estimators.Strategy
    shard: Callable  # identity without a mesh


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
    round_test = config.round_test_orders
    if round_test is None:
        round_test = problem.structure.demand.distribution == "poisson"
    test_policy = rounded(policy) if round_test else policy

    warmup = config.train.ignore_periods if config.loss_periods == "after_warmup" else 0

    def loss(params, scenarios):
        return hindsight_cost(problem, policy, params, scenarios, warmup,
                              splits=config.batch_splits,
                              backprop_periods=config.backprop_periods)

    setup = _Setup(problem, policy, config, make_optimizer(config),
                   estimators.for_config(problem, policy, config, loss),
                   parallel.batch_constraint(mesh, config))

    def evaluate(params, scenarios: Scenarios):
        return simulate(problem, test_policy, params, scenarios, record=False).mean_cost

    run = functools.partial(_run, setup)
    return Trainer(
        data=functools.partial(_data, setup),
        init=functools.partial(_init, setup),
        run=jax.jit(run, static_argnums=2),
        evaluate=evaluate,
        train=functools.partial(_train, setup),
        optimizer=setup.optimizer,
    )


def _data(setup: _Setup, key) -> dict:
    k_train, k_dev = jax.random.split(key)
    config = setup.config
    return setup.shard({
        "train": sample(setup.problem, k_train, *config.train,
                        start_scale=config.train_start_scale),
        "dev": sample(setup.problem, k_dev, *config.dev),
    })


def _init(setup: _Setup, key) -> TrainState:
    k_params, k_shuffle = jax.random.split(key)  # HDPO and REINFORCE: same init
    params = setup.policy.init(k_params)
    opt_state, k_shuffle = setup.estimator.init(k_shuffle, params,
                                                setup.optimizer.init(params))
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


def _minibatch_step(setup: _Setup, train_data, carry, xs):
    """One optimizer step on minibatch `index`; a non-finite step changes nothing and
    marks the run bad."""
    params, opt_state, bad = carry
    index, key = xs
    estimator = setup.estimator
    scenarios = setup.shard(jax.tree.map(lambda x: x[index], train_data))
    value, grads, extra = estimator.step(params, opt_state, scenarios, key)
    finite = jnp.isfinite(value) & _all_finite((grads, extra))
    norm = optax.global_norm(grads)
    updates, policy_state = setup.optimizer.update(
        grads, estimator.policy_state(opt_state), params)
    keep = finite & ~bad
    params = _select(keep, optax.apply_updates(params, updates), params)
    opt_state = _select(keep, estimator.combine(policy_state, extra), opt_state)
    return (params, opt_state, bad | ~finite), (value, norm)


def _epoch_or_skip(setup: _Setup, state: TrainState, train_data):
    """One epoch of minibatch steps, or nothing once the run has stopped."""
    steps, batch = setup.config.steps_per_epoch, setup.config.batch_size
    # The keys are split outside `cond`: under `vmap` both branches run, and a key
    # consumed in one branch only would count as reused.
    key, k_perm, step_keys = setup.estimator.epoch_keys(state.key, steps)
    order = jax.random.permutation(k_perm, setup.config.train.n)[: steps * batch]

    def one_epoch(carry):
        (params, opt_state, bad), (losses, norms) = jax.lax.scan(
            functools.partial(_minibatch_step, setup, train_data), carry,
            (order.reshape(steps, batch), step_keys),
        )
        return (params, opt_state, bad), (losses.mean(), norms.max())

    skip = lambda carry: (carry, (jnp.float32(jnp.nan),) * 2)  # noqa: E731
    (params, opt_state, bad), loss_and_norm = jax.lax.cond(
        state.stopped, skip, one_epoch, (state.params, state.opt_state, state.nan)
    )
    new = state.replace(
        params=params, opt_state=opt_state, key=key,
        epoch=state.epoch + (~state.stopped).astype(jnp.int32),
        stopped=state.stopped | bad, nan=bad,
    )
    return new, loss_and_norm


def _run(setup: _Setup, state: TrainState, data_: dict, epochs: int):
    """`epochs` epochs (skipped once stopped), then one dev evaluation."""
    config = setup.config
    was_stopped = state.stopped
    state, (losses, norms) = jax.lax.scan(
        lambda s, _: _epoch_or_skip(setup, s, data_["train"]), state, None, length=epochs
    )
    evaluated = ~was_stopped & ~state.nan
    dev = simulate(setup.problem, setup.policy, state.params, data_["dev"], record=False)
    dev_cost = jnp.where(evaluated, dev.mean_cost, jnp.nan)
    first = setup.shard(jax.tree.map(lambda x: x[: config.batch_size], data_["train"]))
    train = simulate(setup.problem, setup.policy, state.params, first, record=False)
    train_cost = jnp.where(evaluated, train.mean_cost, jnp.nan)
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
    return state, EpochMetrics(losses, dev_cost, state.best_dev, train_cost, norms)


def evaluation_epochs(config: TrainConfig) -> list[int]:
    """The epochs done at each dev evaluation of `Trainer.train`: one after every
    `eval_every` epochs and one after the last (the run driver `fit` keeps this too)."""
    every, epochs = config.eval_every, config.epochs
    return list(range(every, epochs + 1, every)) + ([epochs] if epochs % every else [])


def best_dev_epoch(dev_costs, epochs) -> int | None:
    """The epoch of the first evaluation with the lowest finite dev cost, i.e. the one the
    best parameters come from (a later tie does not replace them); None when no dev cost
    is finite. `dev_costs` and `epochs` run over the evaluations (`evaluation_epochs`)."""
    costs = np.asarray(dev_costs, np.float64)
    finite = np.isfinite(costs)
    if not finite.any():
        return None
    return int(np.asarray(epochs)[np.argmin(np.where(finite, costs, np.inf))])


def _train(setup: _Setup, key):
    """The whole run; metrics hold one entry per dev evaluation (`evaluation_epochs`)."""
    k_data, k_init = jax.random.split(key)
    data_ = _data(setup, k_data)
    every = setup.config.eval_every
    chunks, rest = divmod(setup.config.epochs, every)
    state, metrics = jax.lax.scan(
        lambda s, _: _run(setup, s, data_, every), _init(setup, k_init), None, length=chunks
    )
    metrics = metrics._replace(train_loss=metrics.train_loss.reshape(-1),
                               grad_norm=metrics.grad_norm.reshape(-1))
    if rest:
        state, last = _run(setup, state, data_, rest)
        metrics = jax.tree.map(
            lambda a, b: jnp.concatenate([a, b.reshape(-1)]), metrics, last
        )
    return state, metrics
