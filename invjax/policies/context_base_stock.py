"""Store base-stock levels that are a learned function of a one-dimensional context.

A structured policy for one-warehouse networks, in the spirit of the asymptotic
construction that motivates the symmetry-aware architecture: the warehouse follows an
echelon base-stock policy, and every store a base-stock policy whose level depends on
its own parameters and on one scalar summary of the network state, the context

    c = warehouse on-hand / (sum of store mean demands)   (periods of supply held).

Store i's level is S_i(c) = mean_i x softplus(a_i + sum_k W[k, i] relu(c - knot_k)):
piecewise linear in c (fixed knots), so the parameters (a, W, a_w) are few and enter
linearly before the softplus. With W = 0 it is `base_stock_allocation` with levels
in units of mean demand. Shipments: proportional allocation of the warehouse on-hand
(all of it for transshipment). Warehouse: order max(S_w - system position, 0), with
S_w = (sum of means) x softplus(a_w) and the system position the warehouse's
on-hand and pipeline plus every store's inventory position.

Not registered in `invjax.policies.make`; build it with `context_base_stock(problem)`.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 6; SPEC §4.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp

from invjax.dynamics import Action, sum_last
from invjax.policies.heuristics import StructuredPolicy
from invjax.policies.policy import (
    inventory_position,
    inverse_softplus,
    proportional_allocation,
)
from invjax.policies.registry import require
from invjax.problem import Problem, Structure

KNOTS = (0.0, 0.5, 1.0, 2.0, 4.0)


def _levels(params, c, mean, knots):
    """Store levels [m, n] at contexts c [m] for mean demands [m, n]."""
    hinge = jax.nn.relu(c[:, None] - jnp.asarray(knots, jnp.float32))  # [m, k]
    return mean * jax.nn.softplus(params["store"] + hinge @ params["slopes"])


def context(obs) -> jnp.ndarray:
    """Warehouse on-hand in periods of total mean store demand: [n]."""
    on_hand = jax.nn.relu(obs.warehouse_inventory[:, 0, 0])
    return on_hand / obs.params.demand_mean.sum(-1)


@functools.cache
def _context_base_stock(s: Structure, knots: tuple[float, ...], store_periods: float,
                        warehouse_periods: float) -> StructuredPolicy:
    n, k = s.n_stores, len(knots)

    def params_for(store_periods=store_periods, warehouse_periods=warehouse_periods, slopes=None):
        store = jnp.broadcast_to(jnp.asarray(store_periods, jnp.float32), (n,))
        slopes = jnp.zeros((k, n)) if slopes is None else jnp.asarray(slopes, jnp.float32)
        if slopes.shape != (k, n):
            raise ValueError(f"slopes: expected shape {(k, n)}, got {slopes.shape}")
        return {
            "store": inverse_softplus(store),
            "slopes": slopes,
            "warehouse": inverse_softplus(jnp.full((1,), warehouse_periods, jnp.float32)),
        }

    def init(key):
        del key
        return params_for()

    def apply(params, obs):
        mean = obs.params.demand_mean
        store_position = inventory_position(obs.store_inventory)
        desired = jax.nn.relu(_levels(params, context(obs), mean, knots) - store_position)
        on_hand = obs.warehouse_inventory[:, 0, 0]
        stores = proportional_allocation(desired, on_hand, exact=s.transshipment)
        system = inventory_position(obs.warehouse_inventory[:, 0]) + sum_last(store_position)
        level = mean.sum(-1) * jax.nn.softplus(params["warehouse"][0])
        return Action(stores=stores, warehouses=jax.nn.relu(level - system)[:, None])

    return StructuredPolicy(init, apply, params_for)


def context_base_stock(
    problem: Problem,
    knots: Sequence[float] = KNOTS,
    store_periods: float = 4.0,
    warehouse_periods: float = 8.0,
) -> StructuredPolicy:
    """Warehouse echelon base-stock; store base-stock levels piecewise linear in the
    context (warehouse on-hand in periods of total mean store demand).

    Args:
      problem: a one-warehouse network without echelons (one_warehouse, transshipment).
      knots: kinks of the piecewise-linear level functions, in periods of supply.
      store_periods: initial store levels, in periods of the store's mean demand.
      warehouse_periods: initial system level, in periods of total mean store demand.

    Returns:
      A cached `StructuredPolicy`; params {"store" [n], "slopes" [len(knots), n],
      "warehouse" [1]}; `params_for(store_periods, warehouse_periods, slopes)` sets them.

    Raises:
      ValueError: a network other than one warehouse without echelons, or bad knots.
    """
    s = problem.structure if isinstance(problem, Problem) else problem
    require("context_base_stock", s)
    knots = tuple(float(x) for x in knots)
    if not knots or list(knots) != sorted(set(knots)):
        raise ValueError(f"knots: need at least one, strictly increasing, got {knots}")
    if store_periods <= 0 or warehouse_periods <= 0:
        raise ValueError("store_periods / warehouse_periods: must be > 0")
    return _context_base_stock(s, knots, float(store_periods), float(warehouse_periods))


def store_levels(problem: Problem, params, c, knots: Sequence[float] = KNOTS) -> jnp.ndarray:
    """Store base-stock levels [len(c), n] at contexts `c` (for plotting)."""
    c = jnp.atleast_1d(jnp.asarray(c, jnp.float32))
    mean = jnp.broadcast_to(problem.params.demand_mean, (c.shape[0], problem.structure.n_stores))
    return _levels(params, c, mean, tuple(float(x) for x in knots))
