"""Vanilla neural policies: an MLP on the flattened network state, with output heads
that keep every order feasible (SPEC §4).

Heads, by network structure:
  - stores ordering from the supplier (one_store_*): order = softplus(out + 1);
  - serial chains (stages upstream first: echelons..., warehouse, store): stage k > 0
    orders sigmoid(out_k) x on-hand of stage k-1; stage 0 orders sigmoid(out_0) x 4 x
    (sum of store mean demands) from the supplier;
  - one-warehouse networks: store shipments = softmax([store logits, 1]) x warehouse
    on-hand, the last share ("keep") staying put (transshipment: softmax over the store
    logits, everything leaves); warehouse order = sigmoid(out_w) x 4 x sum of means.

Flax Linen is used functionally: `params` is the Linen variables dict.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 5; SPEC §4.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.ad_checkpoint import checkpoint_name

from invjax.dynamics import RESIDUAL, Action, State
from invjax.policies.policy import Policy
from invjax.problem import Problem, Structure


def _expm1_nonpositive(x):
    """expm1(x) for x <= 0 in float32: a degree-7 Taylor polynomial for x > -1/4
    (truncation < 2e-9 relative), exp(x) - 1 below (no cancellation there). Within 3
    ulp of the exact value (XLA:CPU's expm1: 5 ulp) at 0.6x its cost. float64: expm1."""
    if x.dtype == jnp.float64:
        return jnp.expm1(x)
    poly = x * (1 + x * (1 / 2 + x * (1 / 6 + x * (1 / 24 + x * (
        1 / 120 + x * (1 / 720 + x * (1 / 5040)))))))
    return jnp.where(x > -0.25, poly, jnp.exp(x) - 1)


@jax.custom_jvp
def elu(x):
    """ELU (alpha 1), as jax.nn.elu up to float rounding (see `_expm1_nonpositive`).

    Its derivative reads only the output y: 1 where y > 0, else y + 1 (= exp(x)), so
    differentiating keeps one array per layer (not masks and exponentials), and the
    backward pass of a rematerialised rollout redoes one cheap elementwise pass.
    """
    return jnp.where(x > 0, x, _expm1_nonpositive(jnp.minimum(x, 0.0)))


@elu.defjvp
def _elu_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    y = elu(x)
    return y, dx * jnp.where(y > 0, 1.0, y + 1.0)


ACTIVATIONS = {
    "elu": elu,
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "tanh": jnp.tanh,
    "softplus": jax.nn.softplus,
}
STORE_FEATURES = ("demand_mean", "demand_std", "underage_cost", "lead_time")
UPPER_BOUND_MULT = 4.0  # supplier orders are at most 4 x (sum of store mean demands)
KEEP_LOGIT = 1.0  # the warehouse's constant "keep" logit


SAVE_FAN_IN = 128  # outputs of layers with at least this fan-in are kept for the backward


def saved_if_wide(z, fan_in: int):
    """Tags a dense layer's output z (before its activation) as a rollout residual
    (`invjax.dynamics.RESIDUAL`) when the layer's fan-in is >= SAVE_FAN_IN.

    The rollout differentiates each period under `jax.checkpoint` and recomputes what
    is untagged: a narrow layer costs less to redo (2 x fan-in FLOPs per output) than
    to store for every period and fetch back; a wide one is kept. z rather than the
    activation's output: the activation's derivative is computed from z (or from the
    activation of z), so the backward pass then redoes only elementwise work."""
    return checkpoint_name(z, RESIDUAL) if fan_in >= SAVE_FAN_IN else z


def activation_fn(name: str):
    """The activation function called `name`; raises ValueError listing the allowed."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation: unknown {name!r}; allowed: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def as_widths(widths: Sequence[int], name: str) -> tuple[int, ...]:
    """Layer widths as a hashable tuple of positive ints (a cache key)."""
    widths = tuple(int(w) for w in widths)
    if any(w < 1 for w in widths):
        raise ValueError(f"{name}: layer widths must be >= 1, got {widths}")
    return widths


class MLP(nn.Module):
    """Dense layers with `activation` between them; the last layer is linear."""

    features: tuple[int, ...]
    activation: str = "elu"

    @nn.compact
    def __call__(self, x):
        act = activation_fn(self.activation)
        for i, width in enumerate(self.features):
            x = saved_if_wide(nn.Dense(width, name=f"layers_{i}")(x), x.shape[-1])
            if i < len(self.features) - 1:
                x = act(x)
        return x


def per_store_features(obs: State) -> jnp.ndarray:
    """Per-store parameters the policy may read: [n, S, len(STORE_FEATURES)]."""
    return jnp.stack(
        [getattr(obs.params, f).astype(jnp.float32) for f in STORE_FEATURES], axis=-1
    )


def total_mean(obs: State) -> jnp.ndarray:
    """The sum of the store mean demands, [n, 1]: the network's scale of inventory."""
    return obs.params.demand_mean.sum(-1, keepdims=True)


def supplier_cap(obs: State) -> jnp.ndarray:
    """Upper bound of a supplier order: 4 x the sum of store mean demands, [n, 1]."""
    return UPPER_BOUND_MULT * total_mean(obs)


def n_parameters(params: Any) -> int:
    """Number of scalars in a parameter pytree."""
    return sum(int(x.size) for x in jax.tree.leaves(params))


def _flat_state(obs: State, with_features: bool, scaled: bool) -> jnp.ndarray:
    """The inventory vectors of every location (and the store features), flattened;
    with `scaled`, inventories are divided by the sum of the store mean demands."""
    n = obs.store_inventory.shape[0]
    parts = [obs.store_inventory, obs.warehouse_inventory, obs.echelon_inventory]
    parts = [p.reshape(n, -1).astype(jnp.float32) for p in parts]
    if scaled:
        scale = total_mean(obs).astype(jnp.float32)
        parts = [p / scale for p in parts]
    if with_features:
        parts.append(per_store_features(obs).reshape(n, -1))
    return jnp.concatenate(parts, axis=-1)


def _sizes(s: Structure, with_features: bool) -> tuple[int, int]:
    """(input width, output width) of the MLP for structure `s`."""
    width = (
        s.n_stores * s.store_slots
        + s.n_warehouses * s.warehouse_slots
        + s.n_echelons * s.echelon_slots
        + (s.n_stores * len(STORE_FEATURES) if with_features else 0)
    )
    if s.n_warehouses == 0:
        return width, s.n_stores
    if s.n_echelons > 0:
        return width, s.n_echelons + 2
    return width, s.n_stores + 1


def _heads(s: Structure, out: jnp.ndarray, obs: State) -> Action:
    """Maps raw MLP outputs [n, m] to feasible orders."""
    if s.n_warehouses == 0:
        return Action(stores=jax.nn.softplus(out + 1.0))
    if s.n_echelons > 0:
        on_hand = jnp.concatenate(
            [obs.echelon_inventory[..., 0], obs.warehouse_inventory[..., 0]], axis=-1
        )
        upstream = jnp.concatenate([supplier_cap(obs), jax.nn.relu(on_hand)], axis=-1)
        order = jax.nn.sigmoid(out) * upstream
        e = s.n_echelons
        return Action(stores=order[:, -1:], warehouses=order[:, e : e + 1], echelons=order[:, :e])
    on_hand = jax.nn.relu(obs.warehouse_inventory[:, 0, :1])  # [n, 1]
    logits = out[:, :-1]
    if not s.transshipment:
        logits = jnp.concatenate([logits, jnp.full_like(logits[:, :1], KEEP_LOGIT)], axis=-1)
    shares = jax.nn.softmax(logits, axis=-1)[:, : s.n_stores]
    warehouse = jax.nn.sigmoid(out[:, -1:]) * supplier_cap(obs)
    return Action(stores=shares * on_hand, warehouses=warehouse)


@functools.cache
def _vanilla(s: Structure, hidden: tuple[int, ...], activation: str, with_features: bool,
             scaled: bool):
    width, outputs = _sizes(s, with_features)
    net = MLP(hidden + (outputs,), activation)

    @jax.jit
    def init(key):
        return net.init(key, jnp.zeros((1, width), jnp.float32))

    def apply(params, obs: State) -> Action:
        return _heads(s, net.apply(params, _flat_state(obs, with_features, scaled)), obs)

    return Policy(init, apply)


def vanilla(
    problem: Problem,
    hidden: Sequence[int] = (32, 32, 32),
    activation: str = "elu",
    store_features: bool = False,
    scale_inputs: bool = True,
) -> Policy:
    """A vanilla MLP policy on the flattened state of the whole network.

    Args:
      problem: the problem; its structure picks the output heads (module docstring).
      hidden: widths of the hidden layers (any depth; the output layer is linear).
      activation: name in `ACTIVATIONS`.
      store_features: also feed every store's (mean, std, underage cost, lead time).
      scale_inputs: divide the inventories by the sum of the store mean demands before
        the first layer. Raw inventories (tens to hundreds of units, negative under
        backlog) saturate an untrained net: one_store_backlogged L=1 p=39 at its shipped
        hyperparameters ended 3,600% above the optimum raw and 0.75% above it scaled
        (400 steps); the default one_store_lost run went from +1.5% to +0.16%.

    Returns:
      A cached `Policy`: the same arguments return the same object.

    Raises:
      ValueError: an unknown activation, a non-positive width, or a serial chain with
        more than one store.

    References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 5; SPEC §4.
    """
    s = problem.structure if isinstance(problem, Problem) else problem
    activation_fn(activation)
    if s.n_echelons > 0 and s.n_stores != 1:
        raise ValueError(f"vanilla: serial chains need a single store, got {s.n_stores}")
    return _vanilla(s, as_widths(hidden, "hidden"), activation, bool(store_features),
                    bool(scale_inputs))
