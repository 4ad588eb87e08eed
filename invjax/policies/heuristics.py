"""Structured heuristic policies, parameterised so that HDPO can train them.

Levels are positive through a softplus of unconstrained parameters; each factory's
`params_for(...)` sets the levels directly (e.g. to the optimum's S*).

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 5; SPEC §4.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from invjax.dynamics import Action, sum_last
from invjax.policies import edges
from invjax.policies.policy import (
    allocate,
    inventory_position,
    inverse_softplus,
    proportional_allocation,
)
from invjax.policies.registry import one_warehouse, require
from invjax.problem import Problem, Structure


def _reverse_cumsum(x: jnp.ndarray) -> jnp.ndarray:
    """Sum of x[..., j:] for every j, by elementwise adds (few stages)."""
    parts = [x[..., -1]]
    for j in range(x.shape[-1] - 2, -1, -1):
        parts.append(parts[-1] + x[..., j])
    return jnp.stack(parts[::-1], axis=-1)


class StructuredPolicy(NamedTuple):
    """A policy (`init`, `apply`) plus `params_for(**levels)` to set its levels."""

    init: Callable[[jax.Array], Any]
    apply: Callable[[Any, Any], Action]
    params_for: Callable[..., Any]


def _levels(x, n):
    return inverse_softplus(jnp.broadcast_to(jnp.asarray(x, jnp.float32), (n,)))


@functools.cache
def _base_stock(structure: Structure, capped: bool) -> StructuredPolicy:
    n = structure.n_stores

    def init(key):
        del key
        params = {"level": _levels(10.0, n)}
        return {**params, "cap": _levels(10.0, n)} if capped else params

    def apply(params, obs):
        position = inventory_position(obs.store_inventory)
        gap = jax.nn.softplus(params["level"]) - position
        if capped:
            order = jnp.clip(gap, 0.0, jax.nn.softplus(params["cap"]))
        else:
            order = jax.nn.relu(gap)
        return Action(stores=order)

    def params_for(level, cap=None):
        params = {"level": _levels(level, n)}
        if capped:
            if cap is None:
                raise ValueError("cap: capped_base_stock needs a cap")
            params["cap"] = _levels(cap, n)
        return params

    return StructuredPolicy(init, apply, params_for)


def base_stock(problem: Problem) -> StructuredPolicy:
    """order = max(S - inventory position, 0), one level S per store (one store or
    independent stores fed by the supplier)."""
    require("base_stock", problem)
    return _base_stock(problem.structure, False)


def capped_base_stock(problem: Problem) -> StructuredPolicy:
    """order = clip(S - inventory position, 0, cap), per store."""
    require("capped_base_stock", problem)
    return _base_stock(problem.structure, True)


@functools.cache
def _echelon_stock(structure: Structure) -> StructuredPolicy:
    network = structure.network
    stages = len(network.locations)  # a chain: every location is a stage

    def init(key):
        del key
        return {"increment": _levels(10.0, stages)}

    def apply(params, obs):
        # Stage positions upstream first (the store last).
        local = edges.stack_stages(network, {
            k: inventory_position(getattr(obs, f"{k}_inventory")) for k in edges.UPSTREAM_FIRST})
        echelon_position = _reverse_cumsum(local)
        levels = _reverse_cumsum(jax.nn.softplus(params["increment"]))
        order = jax.nn.relu(levels - echelon_position)
        on_hand = edges.stack_stages(network, {
            k: getattr(obs, f"{k}_inventory")[..., 0] for k in edges.UPSTREAM_FIRST})
        upstream = jax.nn.relu(on_hand[:, :-1])
        order = jnp.concatenate([order[:, :1], jnp.minimum(order[:, 1:], upstream)], axis=-1)
        flows = edges.unstack_stages(network, order)
        return Action(stores=flows["store"], warehouses=flows["warehouse"],
                      echelons=flows["echelon"])

    def params_for(levels):
        """levels: echelon base-stock levels S_k, upstream first, store last."""
        levels = jnp.asarray(levels, jnp.float32)
        if levels.shape != (stages,):
            raise ValueError(f"levels: expected {stages} echelon levels, got {levels.shape}")
        increment = levels - jnp.concatenate([levels[1:], jnp.zeros(1)])
        if jnp.any(increment <= 0):
            raise ValueError(f"levels: must decrease strictly downstream and be > 0: {levels}")
        return {"increment": inverse_softplus(increment)}

    return StructuredPolicy(init, apply, params_for)


def echelon_stock(problem: Problem) -> StructuredPolicy:
    """Clark-Scarf echelon base-stock for serial chains of any length (stages upstream
    first, the store last; the chain's order comes from its edges).

    order_k = max(S_k - echelon position_k, 0), capped by the upstream stage's on-hand;
    the S_k are cumulative sums of positive increments, so they nest.
    """
    require("echelon_stock", problem)
    return _echelon_stock(problem.structure)


@functools.cache
def _base_stock_allocation(structure: Structure) -> StructuredPolicy:
    n = structure.n_stores

    def init(key):
        del key
        return {"store_level": _levels(10.0, n), "warehouse_level": _levels(10.0 * n, 1)}

    def apply(params, obs):
        store_position = inventory_position(obs.store_inventory)
        desired = jax.nn.relu(jax.nn.softplus(params["store_level"]) - store_position)
        on_hand = obs.warehouse_inventory[:, 0, 0]
        stores = proportional_allocation(desired, on_hand, exact=structure.transshipment)
        system = inventory_position(obs.warehouse_inventory[:, 0]) + sum_last(store_position)
        warehouse = jax.nn.relu(jax.nn.softplus(params["warehouse_level"]) - system[:, None])
        return Action(stores=stores, warehouses=warehouse)

    def params_for(store_level, warehouse_level):
        return {
            "store_level": _levels(store_level, n),
            "warehouse_level": _levels(warehouse_level, 1),
        }

    return StructuredPolicy(init, apply, params_for)


def _warehouse_of_edge(network) -> np.ndarray:
    """[edges into stores, warehouses] 1 where the edge leaves that warehouse."""
    sources = edges.source_table(network, "store")
    location, slot = edges.edge_table(network, "store")
    warehouse = sources[location, slot]
    return (warehouse[:, None] == np.arange(network.count("warehouse"))).astype(np.float32)


@functools.cache
def _base_stock_allocation_network(structure: Structure) -> StructuredPolicy:
    network = structure.network
    n, w = structure.n_stores, structure.n_warehouses
    store_of_edge, _ = edges.edge_table(network, "store")
    from_warehouse = _warehouse_of_edge(network)  # [E, W]
    split = edges.in_degree(network, "store") > 1

    def shares(params):
        """[1, E] share of each store's order sent over each of its inbound edges."""
        if not split:
            return jnp.ones((1, len(store_of_edge)), jnp.float32)
        logits = edges.per_location(network, "store", params["split"][None], -jnp.inf)
        return edges.per_edge(network, "store", jax.nn.softmax(logits, axis=-1))

    def params_for(store_level, warehouse_level=None, split_logits=None):
        # Default warehouse level: 10 units x the stores it serves (equal shares), in
        # NumPy so that `init` traces under jit.
        equal = 1.0 / np.bincount(store_of_edge, minlength=n)[store_of_edge]  # [E]
        served = equal @ from_warehouse
        level = 10.0 * served if warehouse_level is None else warehouse_level
        params = {"store_level": _levels(store_level, n), "warehouse_level": _levels(level, w)}
        if split:
            logits = jnp.zeros(len(store_of_edge)) if split_logits is None else split_logits
            params["split"] = jnp.broadcast_to(jnp.asarray(logits, jnp.float32),
                                               (len(store_of_edge),))
        return params

    def apply(params, obs):
        store_position = inventory_position(obs.store_inventory)  # [n, S]
        desired = jax.nn.relu(jax.nn.softplus(params["store_level"]) - store_position)
        share = shares(params)
        flows = desired[:, store_of_edge] * share
        # Echelon position of a warehouse: its own position plus its share of the
        # positions of the stores it serves.
        served = (store_position[:, store_of_edge] * share) @ from_warehouse
        position = inventory_position(obs.warehouse_inventory) + served
        order = jax.nn.relu(jax.nn.softplus(params["warehouse_level"]) - position)
        return allocate(network, obs, Action(stores=flows, warehouses=order))

    return StructuredPolicy(lambda key: params_for(10.0), apply, params_for)


def base_stock_allocation(problem: Problem) -> StructuredPolicy:
    """Store base-stock with proportional allocation of every warehouse's on-hand, and
    a warehouse echelon base-stock order (transshipment: all on-hand is allocated).

    On one-warehouse networks (the paper's) the params are {"store_level" [S],
    "warehouse_level" [1]}. On other two-level networks (many_warehouses) store i's
    order max(S_i - IP_i, 0) is split over its inbound edges by a learned share per
    edge (params "split" [store edges]: a softmax over the store's inbound edges, equal
    at init; absent when every store has one inbound edge); warehouse w orders up to
    its level over its echelon position (own position plus, for every edge it serves,
    the edge's share of that store's position); then `allocate` scales every
    warehouse's outbound flows to its on-hand.
    """
    require("base_stock_allocation", problem)
    s = problem.structure
    if one_warehouse(s.network):
        return _base_stock_allocation(s)
    return _base_stock_allocation_network(s)
