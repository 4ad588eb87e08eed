"""Vanilla neural policies: an MLP on the flattened network state, with output heads
that keep every order feasible (SPEC §4).

Heads, by network topology (`invjax.network.Network.topology`):
  - stores ordering from the supplier alone (one_store, independent_stores): order =
    softplus(out + 1);
  - serial chains (stages upstream first, the store last): stage k > 0 orders
    sigmoid(out_k) x on-hand of stage k-1; stage 0 orders sigmoid(out_0) x 4 x (sum of
    store mean demands) from the supplier;
  - one-warehouse networks: store shipments = softmax([store logits, 1]) x warehouse
    on-hand, the last share ("keep") staying put (transshipment: softmax over the store
    logits, everything leaves); warehouse order = sigmoid(out_w) x 4 x sum of means;
  - any other network (`general_heads`): one output per edge; every supplying location
    ships softmax([logits of its outbound edges, 1 if it keeps stock]) x its on-hand;
    every supplier edge carries sigmoid(out) x 4 x sum of means. On a one-warehouse
    network this is the one-warehouse head, value for value (tested).

Flax Linen is used functionally: `params` is the Linen variables dict.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 5; SPEC §4.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.ad_checkpoint import checkpoint_name

from invjax.dynamics import RESIDUAL, Action, State
from invjax.network import KINDS, SUPPLIER, Network
from invjax.policies import edges
from invjax.policies.policy import Policy, on_hand
from invjax.policies.registry import one_warehouse, require, serial, stores_only
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
    save_all: bool = False  # tag every layer's output as a rollout residual

    @nn.compact
    def __call__(self, x):
        act = activation_fn(self.activation)
        for i, width in enumerate(self.features):
            z = nn.Dense(width, name=f"layers_{i}")(x)
            x = checkpoint_name(z, RESIDUAL) if self.save_all else saved_if_wide(z, x.shape[-1])
            if i < len(self.features) - 1:
                x = act(x)
        return x


def store_feature_count(network: Network | None = None) -> int:
    """Width of `per_store_features`: 3 + the largest number of inbound edges of a store."""
    return len(STORE_FEATURES) - 1 + (1 if network is None else edges.in_degree(network, "store"))


def per_store_features(obs: State, network: Network | None = None) -> jnp.ndarray:
    """Per-store parameters the policy may read: [n, S, store_feature_count(network)]:
    (mean, std, underage cost, lead times of the store's inbound edges in canonical
    order, 0 where a store has fewer edges than the most connected one). Without
    `network`, every store must have exactly one inbound edge (the paper's settings)."""
    params = obs.params
    if network is None or edges.in_degree(network, "store") == 1:
        if params.lead_time.shape[-1] != params.demand_mean.shape[-1]:
            raise ValueError("per_store_features: stores with several inbound edges need "
                             "the network (network=structure.network)")
        return jnp.stack(
            [getattr(params, f).astype(jnp.float32) for f in STORE_FEATURES], axis=-1)
    own = jnp.stack([getattr(params, f).astype(jnp.float32) for f in STORE_FEATURES[:-1]], -1)
    lead = edges.per_location(network, "store", params.lead_time.astype(jnp.float32))
    return jnp.concatenate([own, lead], axis=-1)


def total_mean(obs: State) -> jnp.ndarray:
    """The sum of the store mean demands, [n, 1]: the network's scale of inventory."""
    return obs.params.demand_mean.sum(-1, keepdims=True)


def supplier_cap(obs: State) -> jnp.ndarray:
    """Upper bound of a supplier order: 4 x the sum of store mean demands, [n, 1]."""
    return UPPER_BOUND_MULT * total_mean(obs)


def n_parameters(params: Any) -> int:
    """Number of scalars in a parameter pytree."""
    return sum(int(x.size) for x in jax.tree.leaves(params))


def _flat_state(obs: State, with_features: bool, scaled: bool,
                network: Network | None = None) -> jnp.ndarray:
    """The inventory vectors of every location (and the store features), flattened;
    with `scaled`, inventories are divided by the sum of the store mean demands."""
    n = obs.store_inventory.shape[0]
    parts = [obs.store_inventory, obs.warehouse_inventory, obs.echelon_inventory]
    parts = [p.reshape(n, -1).astype(jnp.float32) for p in parts]
    if scaled:
        scale = total_mean(obs).astype(jnp.float32)
        parts = [p / scale for p in parts]
    if with_features:
        parts.append(per_store_features(obs, network).reshape(n, -1))
    return jnp.concatenate(parts, axis=-1)


def _sizes(s: Structure, with_features: bool) -> tuple[int, int]:
    """(input width, output width) of the MLP for structure `s`."""
    width = (
        s.n_stores * s.store_slots
        + s.n_warehouses * s.warehouse_slots
        + s.n_echelons * s.echelon_slots
        + (s.n_stores * store_feature_count(s.network) if with_features else 0)
    )
    if stores_only(s.network):
        return width, s.n_stores
    if serial(s.network):
        return width, len(s.network.locations)
    if one_warehouse(s.network):
        return width, s.n_stores + 1
    return width, len(s.network.edges)


def _heads(s: Structure, out: jnp.ndarray, obs: State) -> Action:
    """Maps raw MLP outputs [n, m] to feasible orders."""
    if stores_only(s.network):
        return Action(stores=jax.nn.softplus(out + 1.0))
    if serial(s.network):
        stage_on_hand = edges.stack_stages(
            s.network, {k: getattr(obs, f"{k}_inventory")[..., 0] for k in edges.UPSTREAM_FIRST})
        upstream = jnp.concatenate(
            [supplier_cap(obs), jax.nn.relu(stage_on_hand[:, :-1])], axis=-1)
        flows = edges.unstack_stages(s.network, jax.nn.sigmoid(out) * upstream)
        return Action(stores=flows["store"], warehouses=flows["warehouse"],
                      echelons=flows["echelon"])
    if not one_warehouse(s.network):
        return general_heads(s.network, out, obs)
    on_hand = jax.nn.relu(obs.warehouse_inventory[:, 0, :1])  # [n, 1]
    logits = out[:, :-1]
    if not s.transshipment:
        logits = jnp.concatenate([logits, jnp.full_like(logits[:, :1], KEEP_LOGIT)], axis=-1)
    shares = jax.nn.softmax(logits, axis=-1)[:, : s.n_stores]
    warehouse = jax.nn.sigmoid(out[:, -1:]) * supplier_cap(obs)
    return Action(stores=shares * on_hand, warehouses=warehouse)


@functools.cache
def _edge_layout(network: Network):
    """(positions of supplier edges, [(location name, positions of its outbound edges)],
    start of each kind's group) in the flat per-edge output (groups in KINDS order)."""
    start, offset = {}, 0
    for kind in KINDS:
        start[kind] = offset
        offset += len(network.edges_into(kind))
    flat = lambda refs: np.asarray([start[g] + j for g, j in refs], np.int32)  # noqa: E731
    runs = [(loc.name, flat(network.outbound(loc.name))) for loc in network.suppliers()]
    return flat(network.outbound(SUPPLIER)), runs, start


def general_heads(network: Network, out: jnp.ndarray, obs: State) -> Action:
    """Per-edge outputs [n, edges] (groups in KINDS order) to feasible flows: for every
    supplying location softmax([its edges' logits, KEEP_LOGIT if it keeps stock]) x its
    on-hand; on supplier edges sigmoid(out) x `supplier_cap`."""
    supplier_edges, runs, start = _edge_layout(network)
    parts = [jax.nn.sigmoid(out[:, supplier_edges]) * supplier_cap(obs)]
    for name, positions in runs:
        logits = out[:, positions]
        if network.location(name).keeps_stock:
            logits = jnp.concatenate([logits, jnp.full_like(logits[:, :1], KEEP_LOGIT)], -1)
        shares = jax.nn.softmax(logits, axis=-1)[:, : len(positions)]
        parts.append(shares * jax.nn.relu(on_hand(obs, name, network))[:, None])
    order = np.concatenate([supplier_edges] + [p for _, p in runs])
    flows = jnp.concatenate(parts, axis=-1)[:, np.argsort(order)]
    groups = {}
    for kind, field in zip(KINDS, Action._fields):
        count = len(network.edges_into(kind))
        groups[field] = flows[:, start[kind]:start[kind] + count] if count else None
    return Action(**groups)


@functools.cache
def _vanilla(s: Structure, hidden: tuple[int, ...], activation: str, with_features: bool,
             scaled: bool):
    width, outputs = _sizes(s, with_features)
    net = MLP(hidden + (outputs,), activation)

    @jax.jit
    def init(key):
        return net.init(key, jnp.zeros((1, width), jnp.float32))

    def apply(params, obs: State) -> Action:
        flat = _flat_state(obs, with_features, scaled, s.network)
        return _heads(s, net.apply(params, flat), obs)

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
      ValueError: an unknown activation or a non-positive width.

    References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 5; SPEC §4.
    """
    s = problem.structure if isinstance(problem, Problem) else problem
    require("vanilla", s)
    activation_fn(activation)
    return _vanilla(s, as_widths(hidden, "hidden"), activation, bool(store_features),
                    bool(scale_inputs))
