"""The one place that builds simulator problems and parameters for sales data.

One store per series (stores order from the supplier), or one warehouse with n stores
(a scenario = n series); lost demand, profit mode (SPEC §2).

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 7; SPEC §2, §10.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from invjax.network import SUPPLIER, Edge, Location, Network
from invjax.problem import Demand, Params, Problem, Structure, make_problem
from invjax.scenarios import per_scenario

WAREHOUSE_LEAD_TIME = 3
WAREHOUSE_HOLDING_COST = 0.3


def store_name(i: int) -> str:
    return f"store_{i:03d}"


def sales_network(n_stores: int, max_lead_time: int, warehouse: bool) -> Network:
    """Stores fed by the supplier, or by one warehouse that the supplier feeds."""
    stores = tuple(Location(store_name(i), "store", slots=max_lead_time)
                   for i in range(n_stores))
    if not warehouse:
        return Network(stores, tuple(Edge(SUPPLIER, s.name, max_lead_time) for s in stores))
    hub = Location("warehouse", "warehouse", slots=WAREHOUSE_LEAD_TIME)
    edges = (Edge(SUPPLIER, hub.name, WAREHOUSE_LEAD_TIME),) + tuple(
        Edge(hub.name, s.name, max_lead_time) for s in stores)
    return Network((hub,) + stores, edges)


def make_problem_for(n_stores: int, max_lead_time: int, warehouse: bool,
                     demand_history: int = 16) -> Problem:
    """A profit-mode, lost-demand problem whose stores have up to `max_lead_time`.

    Args:
      n_stores: stores per scenario (1 without a warehouse).
      max_lead_time: the largest store lead time (the store vector's width).
      warehouse: whether the stores order from one warehouse (lead time 3, h = 0.3).
      demand_history: past demands per store kept in the state (policy input).
    """
    if n_stores < 1 or (not warehouse and n_stores != 1):
        raise ValueError(f"n_stores: {n_stores}; allowed: 1 without a warehouse, >= 1 with")
    structure = Structure(
        name="sales_warehouse" if warehouse else "sales_store",
        network=sales_network(n_stores, int(max_lead_time), warehouse), lost_demand=True,
        maximize_profit=True, demand=Demand("normal", clip=True),
        demand_history=demand_history,
    )
    return make_problem(
        structure, holding_cost=1.0, underage_cost=1.0, demand_mean=1.0, demand_std=1.0,
        **({"warehouse_holding_cost": WAREHOUSE_HOLDING_COST} if warehouse else {}),
    )


def scenario_params(problem: Problem, margin, holding_cost, lead_time, mean, std) -> Params:
    """Per-scenario parameters (leaves [n, locations]) from per-store arrays [n, S]."""
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    base = per_scenario(problem.params, np.shape(margin)[0])
    return base.replace(
        holding_cost=f32(holding_cost), underage_cost=f32(margin),
        lead_time=jnp.asarray(lead_time, jnp.int32), demand_mean=f32(mean),
        demand_std=f32(std))
