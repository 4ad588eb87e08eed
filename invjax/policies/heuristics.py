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

from invjax.dynamics import Action
from invjax.policies.policy import (
    inventory_position,
    inverse_softplus,
    proportional_allocation,
    sum_last,
)
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


def _require(structure: Structure, name: str, *, warehouses=None, echelons=None):
    ok = (warehouses is None or (structure.n_warehouses > 0) == warehouses) and (
        echelons is None or (structure.n_echelons > 0) == echelons
    )
    if not ok:
        allowed = {
            "base_stock": "networks without a warehouse (one_store_*)",
            "capped_base_stock": "networks without a warehouse (one_store_*)",
            "echelon_stock": "serial chains (serial)",
            "base_stock_allocation": "one-warehouse networks (one_warehouse, transshipment)",
        }
        raise ValueError(f"policy {name!r} does not fit setting {structure.name!r}: "
                         f"it is for {allowed[name]}")


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
    """order = max(S - inventory position, 0), one level S per store."""
    _require(problem.structure, "base_stock", warehouses=False)
    return _base_stock(problem.structure, False)


def capped_base_stock(problem: Problem) -> StructuredPolicy:
    """order = clip(S - inventory position, 0, cap), per store."""
    _require(problem.structure, "capped_base_stock", warehouses=False)
    return _base_stock(problem.structure, True)


@functools.cache
def _echelon_stock(structure: Structure) -> StructuredPolicy:
    stages = structure.n_echelons + 2  # echelons, warehouse, store (upstream first)

    def init(key):
        del key
        return {"increment": _levels(10.0, stages)}

    def apply(params, obs):
        # Stage positions upstream first: echelons..., warehouse, store.
        local = jnp.concatenate(
            [
                inventory_position(obs.echelon_inventory),
                inventory_position(obs.warehouse_inventory),
                inventory_position(obs.store_inventory),
            ],
            axis=-1,
        )
        echelon_position = _reverse_cumsum(local)
        levels = _reverse_cumsum(jax.nn.softplus(params["increment"]))
        order = jax.nn.relu(levels - echelon_position)
        on_hand = jnp.concatenate(
            [
                obs.echelon_inventory[..., 0],
                obs.warehouse_inventory[..., 0],
                obs.store_inventory[..., 0],
            ],
            axis=-1,
        )
        upstream = jax.nn.relu(on_hand[:, :-1])
        order = jnp.concatenate([order[:, :1], jnp.minimum(order[:, 1:], upstream)], axis=-1)
        e = structure.n_echelons
        return Action(stores=order[:, -1:], warehouses=order[:, e : e + 1], echelons=order[:, :e])

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
    """Clark-Scarf echelon base-stock for serial chains (store is the last stage).

    order_k = max(S_k - echelon position_k, 0), capped by the upstream stage's on-hand;
    the S_k are cumulative sums of positive increments, so they nest.
    """
    s = problem.structure
    _require(s, "echelon_stock", warehouses=True)
    if s.n_stores != 1:
        raise ValueError(f"policy 'echelon_stock' needs a single store, got {s.n_stores}")
    return _echelon_stock(s)


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


def base_stock_allocation(problem: Problem) -> StructuredPolicy:
    """Store base-stock with proportional allocation of the warehouse on-hand, and a
    warehouse echelon base-stock order (transshipment: all on-hand is allocated)."""
    s = problem.structure
    _require(s, "base_stock_allocation", warehouses=True, echelons=False)
    return _base_stock_allocation(s)
