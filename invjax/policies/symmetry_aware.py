"""The symmetry-aware policy for one- and many-warehouse networks (the paper's architecture).

A context net reads the whole state (all store vectors, then the warehouse vector,
flattened) and outputs a context vector through a sigmoid. The warehouse net reads
(warehouse vector, context) and orders sigmoid x 4 x (sum of store means). One store
net, with the same weights for every store, reads (own inventory vector, own mean, std,
underage cost, lead time, context) and outputs a desired order through a softplus; the
warehouse on-hand is then allocated in proportion (all of it for transshipment).

Symmetry: the only per-store parameters are the rows of the context net's input layer
that read each store's vector. Relabelling the stores of both the state and those rows
(`permute_stores`) permutes the store orders and leaves the warehouse order unchanged.

The store net (`invjax.policies.store_layers`) computes its first layer's context
block once per scenario rather than once per store.

Independent stores (no warehouse): the context and store nets only; each store orders
its desired quantity from the supplier.

Many warehouses (any two-level network: `registry.two_level`): the context net reads
every store vector and every warehouse vector; one warehouse net, shared by all
warehouses, reads (own vector, own holding cost, inbound lead time and procurement
cost, context) and orders sigmoid x 4 x (sum of store means); the shared store net also
reads the vectors of the warehouses on its inbound edges (a padded stack in inbound
order, zeros for the supplier and for padding) and its features carry the lead times
of all its inbound edges (`per_store_features`); it outputs one desired flow per
inbound edge; `invjax.policies.policy.allocate` then scales every warehouse's outbound
flows to its on-hand. On one-warehouse networks the inputs, parameters and outputs are
exactly those of the paper's architecture above.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 6; SPEC §4, §7.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from invjax.dynamics import Action, State
from invjax.policies import edges
from invjax.policies.neural import (
    MLP,
    STORE_FEATURES,
    activation_fn,
    as_widths,
    per_store_features,
    store_feature_count,
    supplier_cap,
    total_mean,
)
from invjax.policies.policy import Policy, allocate, proportional_allocation
from invjax.policies.registry import one_warehouse, require
from invjax.policies.store_layers import StoreNet
from invjax.problem import Problem, Structure


class SymmetryAwareNet(nn.Module):
    """Context, warehouse and store nets; returns (warehouse out [n, 1] or [n, W, 1]
    for warehouse input [n, F] or [n, W, F], store out [n, S, store_outputs])."""

    context_size: int
    context_hidden: tuple[int, ...]
    store_hidden: tuple[int, ...]
    warehouse_hidden: tuple[int, ...]
    activation: str
    stack: int
    factored: bool
    store_outputs: int = 1

    @nn.compact
    def __call__(self, context_in, warehouse_in, store_in):
        context_net = MLP(self.context_hidden + (self.context_size,), self.activation,
                          name="context")
        context = jax.nn.sigmoid(context_net(context_in))
        warehouse = None  # no warehouse (independent stores): no warehouse net
        if warehouse_in is not None:
            warehouse_net = MLP(self.warehouse_hidden + (1,), self.activation,
                                name="warehouse")
            shared = context if warehouse_in.ndim == 2 else jnp.broadcast_to(
                context[:, None, :], warehouse_in.shape[:2] + context.shape[-1:])
            warehouse = warehouse_net(jnp.concatenate([warehouse_in, shared], -1))
        store_net = StoreNet(self.store_hidden + (self.store_outputs,), self.activation,
                             self.stack, self.factored, name="store")
        return warehouse, store_net(store_in, context)


def _inputs(obs: State, scaled: bool):
    """(context input [n, S*slots + slots], warehouse input [n, slots], store input
    [n, S, slots + features]). With `scaled`, the context and warehouse nets read each
    store's inventories in units of its own mean demand and the warehouse's in units of
    the sum of the means; the store net always reads its own raw inventories."""
    n = obs.store_inventory.shape[0]
    store = obs.store_inventory.astype(jnp.float32)
    warehouse = obs.warehouse_inventory[:, 0, :].astype(jnp.float32)
    store_in = jnp.concatenate([store, per_store_features(obs)], -1)
    if scaled:
        mean = obs.params.demand_mean.astype(jnp.float32)  # [n, S]
        store = store / mean[..., None]
        warehouse = warehouse / total_mean(obs).astype(jnp.float32)
    context_in = jnp.concatenate([store.reshape(n, -1), warehouse], -1)
    return context_in, warehouse, store_in


@functools.cache
def _symmetry_aware(s: Structure, context_size, context_hidden, store_hidden,
                    warehouse_hidden, activation, shared, factored, scaled) -> Policy:
    net = SymmetryAwareNet(context_size, context_hidden, store_hidden, warehouse_hidden,
                           activation, 0 if shared else s.n_stores, factored)
    context_width = s.n_stores * s.store_slots + s.warehouse_slots
    store_width = s.store_slots + len(STORE_FEATURES)

    @jax.jit
    def init(key):
        return net.init(
            key,
            jnp.zeros((1, context_width), jnp.float32),
            jnp.zeros((1, s.warehouse_slots), jnp.float32),
            jnp.zeros((1, s.n_stores, store_width), jnp.float32),
        )

    def apply(params, obs: State) -> Action:
        warehouse_out, store_out = net.apply(params, *_inputs(obs, scaled))
        desired = jax.nn.softplus(store_out[..., 0])
        on_hand = jax.nn.relu(obs.warehouse_inventory[:, 0, 0])
        stores = proportional_allocation(desired, on_hand, exact=s.transshipment)
        return Action(stores=stores, warehouses=jax.nn.sigmoid(warehouse_out) * supplier_cap(obs))

    return Policy(init, apply)


WAREHOUSE_FEATURES = 3  # holding cost, inbound lead time, inbound procurement cost


def _network_inputs(network, obs: State, scaled: bool):
    """(context input [n, S*Ks + W*Kw], warehouse input [n, W, Kw + 3], store input
    [n, S, Ks + features + in-degree*Kw]) for a many-warehouse network; inventories
    scaled as in `_inputs`."""
    n = obs.store_inventory.shape[0]
    store = obs.store_inventory.astype(jnp.float32)
    warehouse = obs.warehouse_inventory.astype(jnp.float32)  # [n, W, Kw]
    own = jnp.concatenate([store, per_store_features(obs, network)], -1)
    if scaled:
        store = store / obs.params.demand_mean.astype(jnp.float32)[..., None]
        warehouse = warehouse / total_mean(obs).astype(jnp.float32)[..., None]
    if not network.count("warehouse"):  # independent stores: context and store nets
        return store.reshape(n, -1), None, own
    # The vectors of the warehouses on each store's inbound edges (zeros: none).
    padded = jnp.concatenate([warehouse, jnp.zeros_like(warehouse[:, :1])], axis=1)
    sources = edges.source_table(network, "store")
    supplying = padded[:, np.where(sources < 0, warehouse.shape[1], sources)]
    store_in = jnp.concatenate([own, supplying.reshape(own.shape[:2] + (-1,))], -1)
    p = obs.params
    inbound = [edges.per_location(network, "warehouse", x.astype(jnp.float32))[..., 0]
               for x in (p.warehouse_lead_time, p.warehouse_procurement_cost)]
    features = jnp.stack([p.warehouse_holding_cost.astype(jnp.float32)] + inbound, -1)
    warehouse_in = jnp.concatenate([warehouse, features], -1)
    context_in = jnp.concatenate([store.reshape(n, -1), warehouse.reshape(n, -1)], -1)
    return context_in, warehouse_in, store_in


@functools.cache
def _symmetry_aware_network(s: Structure, context_size, context_hidden, store_hidden,
                            warehouse_hidden, activation, shared, factored,
                            scaled) -> Policy:
    network = s.network
    degree = edges.in_degree(network, "store")
    net = SymmetryAwareNet(context_size, context_hidden, store_hidden, warehouse_hidden,
                           activation, 0 if shared else s.n_stores, factored, degree)
    w = s.n_warehouses
    widths = (
        (1, s.n_stores * s.store_slots + w * s.warehouse_slots),
        (1, w, s.warehouse_slots + WAREHOUSE_FEATURES) if w else None,
        (1, s.n_stores, s.store_slots + store_feature_count(network)
         + (degree * s.warehouse_slots if w else 0)),
    )

    @jax.jit
    def init(key):
        return net.init(key, *(None if x is None else jnp.zeros(x, jnp.float32)
                               for x in widths))

    def apply(params, obs: State) -> Action:
        warehouse_out, store_out = net.apply(params, *_network_inputs(network, obs, scaled))
        desired = edges.per_edge(network, "store", jax.nn.softplus(store_out))
        if not w:  # every store orders from the supplier
            return Action(stores=desired)
        orders = jax.nn.sigmoid(warehouse_out[..., 0]) * supplier_cap(obs)
        return allocate(network, obs, Action(stores=desired, warehouses=orders))

    return Policy(init, apply)


def symmetry_aware(
    problem: Problem,
    context_size: int = 256,
    context_hidden: Sequence[int] = (256,),
    store_hidden: Sequence[int] = (64, 64),
    warehouse_hidden: Sequence[int] = (64,),
    activation: str = "elu",
    shared: bool = True,
    factored: bool = True,
    scale_inputs: bool = True,
) -> Policy:
    """The symmetry-aware policy of the paper, for one and for many warehouses.

    Args:
      problem: a two-level network (one_warehouse, transshipment, many_warehouses: see
        `invjax.policies.registry.two_level`) or independent stores.
      context_size: width of the context vector (sigmoid outputs).
      context_hidden, store_hidden, warehouse_hidden: hidden widths of the three nets.
      activation: name in `invjax.policies.neural.ACTIVATIONS`.
      shared: one store net for all stores (True) or one per store (the ablation).
      factored: compute the context's share of the store net's first layer once per
        scenario (same parameters and outputs as `factored=False`, fewer FLOPs).
      scale_inputs: the context and warehouse nets read inventories in units of mean
        demand (see `_inputs`). Raw inputs grow with the number of stores and saturate
        the context's sigmoid: at 50 stores, 320 steps reached a test cost of 18.3 per
        store-period raw and 6.2 scaled.

    Returns:
      A cached `Policy`; `params` is the Linen variables dict with sub-trees
      "context", "warehouse" and "store".

    Raises:
      ValueError: a network it does not fit (`invjax.policies.registry`), or bad sizes.

    References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 6; SPEC §4.
    """
    s = problem.structure if isinstance(problem, Problem) else problem
    require("symmetry_aware", s)
    activation_fn(activation)
    (context_size,) = as_widths((context_size,), "context_size")
    build = _symmetry_aware if one_warehouse(s.network) else _symmetry_aware_network
    return build(
        s, context_size, as_widths(context_hidden, "context_hidden"),
        as_widths(store_hidden, "store_hidden"), as_widths(warehouse_hidden, "warehouse_hidden"),
        activation, bool(shared), bool(factored), bool(scale_inputs),
    )


def permute_stores(params: Any, permutation, structure: Structure) -> Any:
    """Relabels the stores of symmetry-aware parameters: new store j reads what old
    store permutation[j] read.

    With states permuted the same way (store_inventory[:, permutation] and every
    per-store param field), apply(permute_stores(params, perm), permuted state) equals
    apply(params, state) with store orders [:, permutation] and the same warehouse order.
    Only the context net's input rows move (and the per-store stacks when not shared).
    """
    perm = np.asarray(permutation)
    s = structure
    layer = dict(params["params"]["context"]["layers_0"])
    kernel = layer["kernel"]
    rows = s.n_stores * s.store_slots
    store_rows = kernel[:rows].reshape(s.n_stores, s.store_slots, -1)[perm]
    layer["kernel"] = jnp.concatenate([store_rows.reshape(rows, -1), kernel[rows:]], 0)
    inner = dict(params["params"])
    inner["context"] = {**inner["context"], "layers_0": layer}
    if inner["store"]["layers_0"]["kernel"].ndim == 3:  # one net per store [S, in, out]
        inner["store"] = jax.tree.map(lambda x: x[perm], inner["store"])
    return {**params, "params": inner}
