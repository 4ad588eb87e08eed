"""REINFORCE baselines: score-function gradients of a perturbed policy's cost.

The stochastic policy perturbs every order of a deterministic policy with censored
Gaussian noise, `a = max(mu(s) + sigma * eps, 0)`, eps ~ N(0, 1). Against Lebesgue
measure plus an atom at 0 its log-density is `log N(a; mu, sigma^2)` for a > 0 and
`log Phi(-mu / sigma)` for a = 0: defined for every mu, also mu = 0 (a base-stock policy
above its level). sigma = scale x the mean demand flowing through the location (a
store's own mean; the sum of store means upstream), the scale fixed or learned. A map
that does not depend on the parameters then makes the orders feasible (store shipments
scaled to the warehouse on-hand, serial orders capped by the upstream on-hand), so the
score of the sampled `a` stays an unbiased gradient estimator.

Gradient of the training loss (mean cost per store per period, all periods):
`1/(n T S) sum_{i,t} grad log pi(a_it | s_it) (G_it - b_it)`, G the cost-to-go, b one of
  - "none": b = 0;
  - "batch_mean": the mean of G_t over the other scenarios of the minibatch
    (leave-one-out, so the estimator stays unbiased);
  - "value": (T - t) v(s_t), v a small MLP regressed on G_t / (T - t), trained alongside.
The dynamics are never differentiated: gradients stop at sampled orders and states.

References: Williams (1992), "Simple statistical gradient-following algorithms for
connectionist reinforcement learning"; Alvo, Russo, Kanoria (2023), arXiv 2306.11246
(HDPO against REINFORCE); SPEC §5.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax
from jax.scipy.stats import norm

from invjax.dynamics import Action, Env, State, complete_action
from invjax.policies.neural import MLP, total_mean
from invjax.policies.policy import proportional_allocation
from invjax.problem import Problem, Structure
from invjax.scenarios import Scenarios

BASELINES = ("none", "batch_mean", "value")
VALUE_HIDDEN = (32, 32)


class Trajectory(NamedTuple):
    """One rollout of the perturbed policy."""

    log_prob: jnp.ndarray  # [n, T] log pi(a_t | s_t), summed over all orders
    cost: jnp.ndarray  # [n, T] period cost, all locations
    features: jnp.ndarray  # [n, T, F] value-net input (no gradient)


class Estimator(NamedTuple):
    """A gradient estimator with trainable state of its own (value net, noise scale)."""

    init: Callable[[jax.Array, Any], Any]  # (key, policy params) -> extra state
    step: Callable[..., tuple]  # (params, extra, scenarios, key) -> (loss, grads, extra)


def noise_reference(obs: State) -> Action:
    """Noise std per order at scale 1: the mean demand through the location."""
    store = obs.params.demand_mean.astype(jnp.float32)  # [n, S]
    total = store.sum(-1, keepdims=True)
    w, e = obs.params.warehouse_lead_time.shape[-1], obs.params.echelon_lead_time.shape[-1]
    return Action(store, jnp.broadcast_to(total, (store.shape[0], w)),
                  jnp.broadcast_to(total, (store.shape[0], e)))


def log_prob(order, mean, sigma):
    """Log-density of the censored normal max(N(mean, sigma^2), 0) at `order` >= 0."""
    continuous = norm.logpdf((order - mean) / sigma) - jnp.log(sigma)
    return jnp.where(order > 0, continuous, norm.logcdf(-mean / sigma))


def feasible(structure: Structure, obs: State, order: Action) -> Action:
    """Makes nonnegative orders feasible; depends on the state only, not on parameters."""
    if structure.n_warehouses == 0:
        return order
    if structure.n_echelons > 0:  # stage k ships at most the on-hand of stage k - 1
        on_hand = jnp.concatenate(
            [obs.echelon_inventory[..., 0], obs.warehouse_inventory[..., 0]], axis=-1)
        stages = jnp.concatenate([order.echelons, order.warehouses, order.stores], axis=-1)
        capped = stages.at[:, 1:].set(jnp.minimum(stages[:, 1:], jax.nn.relu(on_hand)))
        e = structure.n_echelons
        return Action(capped[:, -1:], capped[:, e:e + 1], capped[:, :e])
    stores = proportional_allocation(order.stores, obs.warehouse_inventory[:, 0, 0],
                                     exact=structure.transshipment)
    return order._replace(stores=stores)


def value_features(obs: State, periods: int) -> jnp.ndarray:
    """Value-net input [n, F]: inventories / total mean demand, and periods left / T."""
    n = obs.store_inventory.shape[0]
    scale = total_mean(obs)
    parts = [obs.store_inventory, obs.warehouse_inventory, obs.echelon_inventory]
    flat = jnp.concatenate([p.reshape(n, -1) for p in parts], axis=-1) / scale
    left = jnp.broadcast_to((periods - obs.period) / periods, (n, 1))
    return jnp.concatenate([flat, left.astype(flat.dtype)], axis=-1)


def rollout(problem: Problem, policy, params, log_scale, scenarios: Scenarios,
            key: jax.Array, *, pathwise: bool = False) -> Trajectory:
    """Rolls the perturbed policy through all periods.

    With `pathwise=False` (REINFORCE) gradients flow only through `log_prob`; with
    `pathwise=True` the noise is reparameterised and the cost is differentiable through
    the dynamics (HDPO of the perturbed policy, the same objective).
    """
    structure = problem.structure
    env = Env(structure)
    periods = scenarios.periods
    hold = (lambda x: x) if pathwise else jax.lax.stop_gradient

    def period(carry, demand_t):
        state, key = carry
        key, key_t = jax.random.split(key)
        state = hold(state)
        mean = complete_action(structure, policy.apply(params, state))
        sigma = jax.tree.map(lambda r: jnp.exp(log_scale) * r, noise_reference(state))
        keys = jax.random.split(key_t, 3)
        order = Action(*(hold(jax.nn.relu(m + s * jax.random.normal(k, m.shape)))
                         for m, s, k in zip(mean, sigma, keys)))
        logp = sum(log_prob(a, m, s).sum(-1) for a, m, s in zip(order, mean, sigma))
        next_state, cost = env.step(state, feasible(structure, state, order), demand_t)
        features = jax.lax.stop_gradient(value_features(state, periods))
        return (next_state, key), (logp, cost, features)

    demand = jnp.swapaxes(scenarios.demand, 0, 1)
    _, out = jax.lax.scan(period, (env.reset(scenarios), key), demand)
    return Trajectory(*(jnp.swapaxes(x, 0, 1) for x in out))


def _normaliser(problem: Problem, cost) -> float:
    return cost.shape[0] * cost.shape[1] * problem.structure.n_stores


def perturbed_cost(problem, policy, params, log_scale, scenarios, key) -> jnp.ndarray:
    """Mean cost per store per period of the perturbed policy, pathwise-differentiable."""
    cost = rollout(problem, policy, params, log_scale, scenarios, key, pathwise=True).cost
    return cost.sum() / _normaliser(problem, cost)


def cost_to_go(cost: jnp.ndarray) -> jnp.ndarray:
    """G_t = sum_{t' >= t} cost_t' along the last axis."""
    return jnp.flip(jnp.cumsum(jnp.flip(cost, -1), -1), -1)


def value_net() -> MLP:
    return MLP(VALUE_HIDDEN + (1,), "elu")


def periods_left(periods: int) -> jnp.ndarray:
    return periods - jnp.arange(periods, dtype=jnp.float32)  # [T]


def baseline_values(kind: str, returns, features, value_params=None) -> jnp.ndarray:
    """The baseline b [n, T] of `kind` (in BASELINES)."""
    if kind == "none":
        return jnp.zeros_like(returns)
    if kind == "batch_mean":
        n = returns.shape[0]
        if n == 1:
            return jnp.zeros_like(returns)
        return (returns.sum(0, keepdims=True) - returns) / (n - 1)
    if kind == "value":
        v = value_net().apply(value_params, features)[..., 0]
        return jax.lax.stop_gradient(v) * periods_left(returns.shape[1])
    raise ValueError(f"trainer.baseline: {kind!r}; allowed: {list(BASELINES)}")


def value_loss(value_params, features, returns) -> jnp.ndarray:
    """Squared error of v(s_t) against the cost-to-go per period left."""
    target = returns / periods_left(returns.shape[1])
    return jnp.mean((value_net().apply(value_params, features)[..., 0] - target) ** 2)


def reinforce_grad(problem, policy, params, log_scale, scenarios, key, baseline="batch_mean",
                   value_params: Optional[Any] = None):
    """The REINFORCE estimate of the gradient of the perturbed policy's mean cost.

    Returns:
      (mean cost, gradient w.r.t. params, gradient w.r.t. log_scale, trajectory, returns).
    """

    def surrogate(params, log_scale):
        traj = rollout(problem, policy, params, log_scale, scenarios, key)
        returns = cost_to_go(traj.cost)
        advantage = returns - baseline_values(baseline, returns, traj.features, value_params)
        total = (traj.log_prob * jax.lax.stop_gradient(advantage)).sum()
        return total / _normaliser(problem, traj.cost), (traj, returns)

    grads, (traj, returns) = jax.grad(surrogate, (0, 1), has_aux=True)(params, log_scale)
    loss = traj.cost.sum() / _normaliser(problem, traj.cost)
    return loss, grads[0], grads[1], traj, returns


def make_estimator(problem: Problem, policy, config) -> Estimator:
    """The REINFORCE estimator of `config` (baseline, noise_scale, learn_noise,
    value_learning_rate); its extra state is (aux params, aux optimizer state)."""
    if config.baseline not in BASELINES:
        raise ValueError(f"trainer.baseline: {config.baseline!r}; allowed: {list(BASELINES)}")
    aux_optimizer = optax.adam(config.value_learning_rate)
    s = problem.structure
    width = (s.n_stores * s.store_slots + s.n_warehouses * s.warehouse_slots
             + s.n_echelons * s.echelon_slots + 1)

    def init(key, params):
        del params
        aux = {"log_scale": jnp.log(jnp.float32(config.noise_scale))}
        if config.baseline == "value":
            aux["value"] = value_net().init(key, jnp.zeros((1, width), jnp.float32))
        return aux, aux_optimizer.init(aux)

    def step(params, extra, scenarios, key):
        aux, aux_state = extra
        loss, grads, g_scale, traj, returns = reinforce_grad(
            problem, policy, params, aux["log_scale"], scenarios, key, config.baseline,
            aux.get("value"))
        aux_grads = {"log_scale": g_scale if config.learn_noise else jnp.zeros_like(g_scale)}
        if "value" in aux:
            aux_grads["value"] = jax.grad(value_loss)(aux["value"], traj.features, returns)
        updates, aux_state = aux_optimizer.update(aux_grads, aux_state, aux)
        return loss, grads, (optax.apply_updates(aux, updates), aux_state)

    return Estimator(init, step)
