"""Rolling a policy through a sales window: the core dynamics (`Env.transition`,
profit mode, the last k demands in `State.past_demand`) plus what the core state does
not hold: the window's calendar features, the series' scales and, for the oracle only,
future demand.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Sections 4 and 7; SPEC §2, §10.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
from flax import struct

from invjax.dynamics import Env, State, complete_action
from invjax.problem import Problem
from invjax.sales.windows import SalesSplit


@struct.dataclass
class SalesObs:
    """What a sales policy observes at the start of a period."""

    state: State  # inventories, period, per-scenario params, past_demand [n, S, k]
    calendar: jnp.ndarray  # [F] this period's calendar features
    scale: jnp.ndarray  # [n, S] series' mean sales in the training window
    lookahead: Optional[jnp.ndarray]  # [n, H, S] future demand: the oracle only

    @property
    def past_demand(self) -> jnp.ndarray:
        """[n, S, k] the last k demands, oldest first (kept by the core dynamics)."""
        return self.state.past_demand


class Trace(NamedTuple):
    """Per-period record of a rollout (leaves [n, T, ...])."""

    profit: jnp.ndarray  # [n, T, S] store profit (margin x sales - holding)
    warehouse_cost: jnp.ndarray  # [n, T, W]
    store_orders: jnp.ndarray  # [n, T, S]
    on_hand: jnp.ndarray  # [n, T, S] store on-hand at the start of the period
    warehouse_orders: jnp.ndarray  # [n, T, W]


class Result(NamedTuple):
    mean_profit: jnp.ndarray  # [] per store per period, after warm-up
    series_profit: jnp.ndarray  # [n, S] total per store after warm-up
    trace: Optional[Trace]


def _lookahead(demand: jnp.ndarray, horizon: int) -> jnp.ndarray:
    """[T, n, H, S]: at period t, the demands of periods t .. t+H-1 (0 past the end)."""
    periods = demand.shape[1]
    padded = jnp.pad(demand, ((0, 0), (0, horizon), (0, 0)))
    index = jnp.arange(periods)[:, None] + jnp.arange(horizon)[None]  # [T, H]
    return jnp.moveaxis(padded[:, index], 1, 0)


@functools.partial(jax.jit, static_argnames=("structure", "policy", "record", "lookahead"))
def _rollout(structure, policy, params, split: SalesSplit, record: bool, lookahead: int):
    env = Env(structure)
    sc = split.scenarios
    demand = sc.demand
    xs = (jnp.swapaxes(demand, 0, 1), split.calendar,
          _lookahead(demand, lookahead) if lookahead else None)
    warm = sc.ignore_periods

    def period(state, x):
        demand_t, calendar_t, ahead = x
        obs = SalesObs(state, calendar_t, split.scale, ahead)
        action = complete_action(structure, policy.apply(params, obs))
        on_hand = state.store_inventory[..., 0]
        next_state, cost = env.transition(state, action, demand_t)
        out = (-cost.stores, cost.warehouses)
        if record:
            out += (action.stores, on_hand, action.warehouses)
        return next_state, out

    _, out = jax.lax.scan(period, env.reset(sc), xs)
    out = [jnp.swapaxes(o, 0, 1) for o in out]
    counted = (jnp.arange(sc.periods) >= warm)[None, :, None]
    store = jnp.where(counted, out[0], 0.0)
    warehouse = jnp.where(counted, out[1], 0.0)
    total = store.sum() - warehouse.sum()
    mean = total / (sc.n * (sc.periods - warm) * structure.n_stores)
    # each warehouse's cost shared equally by its stores in the per-series totals
    series = store.sum(1)
    if structure.n_warehouses:
        per = structure.n_stores // structure.n_warehouses
        series = series - jnp.repeat(warehouse.sum(1) / per, per, axis=1)
    return Result(mean, series, Trace(*out) if record else None)


def rollout(problem: Problem, policy: Any, params: Any, split: SalesSplit,
            record: bool = False) -> Result:
    """Profit of `policy` on every scenario of `split` (jitted, differentiable).

    A policy is any object with `apply(params, SalesObs) -> Action`; one with a
    `lookahead` attribute (periods) also sees future demand (not admissible).
    """
    horizon = int(getattr(policy, "lookahead", 0) or 0)
    return _rollout(problem.structure, policy, params, split, record, horizon)
