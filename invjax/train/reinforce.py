"""REINFORCE baselines: score-function gradients of a perturbed policy's cost.

The stochastic policy perturbs every order of a deterministic policy with censored
Gaussian noise, `a = max(mu(s) + sigma * eps, 0)`, eps ~ N(0, 1). Against Lebesgue
measure plus an atom at 0 its log-density is `log N(a; mu, sigma^2)` for a > 0 and
`log Phi(-mu / sigma)` for a = 0: defined for every mu, also mu = 0 (a base-stock policy
above its level). sigma = scale x the mean demand flowing through the edge's
destination (a store's own mean; upstream, the sum of the means of the stores it
supplies), the scale fixed or learned. A map that does not depend on the parameters
then makes the flows feasible (every supplying location's outbound flows scaled to its
on-hand, `invjax.policies.policy.allocate`; on a chain, each order capped by the on-hand
above), so the score of the sampled `a` stays an unbiased gradient estimator. The
rollout is HDPO's (`invjax.rollout.simulate` with a key and the `Perturbed` policy).

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

from invjax.dynamics import Action, State, complete_action, sum_last
from invjax.network import Network
from invjax.policies.neural import MLP, total_mean
from invjax.policies.policy import allocate
from invjax.problem import Problem, Structure
from invjax.rollout import simulate
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


def downstream_stores(network: Network, name: str) -> tuple[int, ...]:
    """Indices of the stores that location `name` supplies, directly or through others."""
    kind, i = network.index(name)
    if kind == "store":
        return (i,)
    found: set[int] = set()
    for group, j in network.outbound(name):
        found.update(downstream_stores(network, network.edges_into(group)[j].destination))
    return tuple(sorted(found))


def noise_reference(network: Network, obs: State) -> Action:
    """Noise std per edge at scale 1: the mean demand flowing through its destination
    (the sum of the means of the stores it supplies)."""
    store = obs.params.demand_mean.astype(jnp.float32)  # [n, S]
    total = store.sum(-1)
    every = tuple(range(store.shape[-1]))

    def through(edge):
        stores = downstream_stores(network, edge.destination)
        return total if stores == every else sum_last(store[:, list(stores)])

    def group(kind):
        edges = network.edges_into(kind)
        if kind == "store" and network.one_inbound_in_order("store"):
            return store
        if not edges:
            return jnp.zeros((store.shape[0], 0), store.dtype)
        return jnp.stack([through(e) for e in edges], axis=-1)

    return Action(group("store"), group("warehouse"), group("echelon"))


def log_prob(order, mean, sigma):
    """Log-density of the censored normal max(N(mean, sigma^2), 0) at `order` >= 0."""
    continuous = norm.logpdf((order - mean) / sigma) - jnp.log(sigma)
    return jnp.where(order > 0, continuous, norm.logcdf(-mean / sigma))


def feasible(structure: Structure, obs: State, order: Action) -> Action:
    """Makes nonnegative orders feasible; depends on the state only, not on parameters.

    Every supplying location's outbound flows are scaled to its on-hand
    (`invjax.policies.policy.allocate`); on a chain that caps each stage's order at the
    on-hand of the stage above.
    """
    return allocate(structure.network, obs, order)


def value_features(obs: State, periods: int) -> jnp.ndarray:
    """Value-net input [n, F]: inventories / total mean demand, and periods left / T."""
    n = obs.store_inventory.shape[0]
    scale = total_mean(obs)
    parts = [obs.store_inventory, obs.warehouse_inventory, obs.echelon_inventory]
    flat = jnp.concatenate([p.reshape(n, -1) for p in parts], axis=-1) / scale
    left = jnp.broadcast_to((periods - obs.period) / periods, (n, 1))
    return jnp.concatenate([flat, left.astype(flat.dtype)], axis=-1)


def feature_width(structure: Structure) -> int:
    """F, the length of `value_features`: every inventory slot, and the periods left."""
    s = structure
    return (s.n_stores * s.store_slots + s.n_warehouses * s.warehouse_slots
            + s.n_echelons * s.echelon_slots + 1)


class Perturbed(NamedTuple):
    """`policy` with censored Gaussian noise on every flow: a stochastic policy for
    `invjax.rollout.simulate(..., key=...)`. Its params are (policy params, log_scale).

    With `pathwise=False` (REINFORCE) the sampled flows carry no gradient, so gradients
    reach the parameters only through the log-probability; with `pathwise=True` the
    noise is reparameterised and the cost is differentiable through the dynamics.
    """

    policy: Any
    structure: Structure
    periods: int
    pathwise: bool = False

    def sample(self, params, obs: State, key: jax.Array):
        """(feasible flows, (log-probability [n], value features [n, F]))."""
        policy_params, log_scale = params
        hold = (lambda x: x) if self.pathwise else jax.lax.stop_gradient
        mean = complete_action(self.structure, self.policy.apply(policy_params, obs))
        reference = noise_reference(self.structure.network, obs)
        sigma = jax.tree.map(lambda r: jnp.exp(log_scale) * r, reference)
        keys = jax.random.split(key, 3)
        order = Action(*(hold(jax.nn.relu(m + s * jax.random.normal(k, m.shape)))
                         for m, s, k in zip(mean, sigma, keys)))
        logp = sum(log_prob(a, m, s).sum(-1) for a, m, s in zip(order, mean, sigma))
        features = jax.lax.stop_gradient(value_features(obs, self.periods))
        return feasible(self.structure, obs, order), (logp, features)


def rollout(problem: Problem, policy, params, log_scale, scenarios: Scenarios,
            key: jax.Array, *, pathwise: bool = False) -> Trajectory:
    """Rolls the perturbed policy through all periods (`invjax.rollout.simulate`)."""
    stochastic = Perturbed(policy, problem.structure, scenarios.periods, pathwise)
    result = simulate(problem, stochastic, (params, log_scale), scenarios, 0, key=key)
    logp, features = result.extras
    return Trajectory(logp, result.cost, features)


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
    width = feature_width(problem.structure)

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
