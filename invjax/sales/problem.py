"""The one place that builds simulator problems and parameters for sales data.

One store per series (stores order from the supplier), or m warehouses with n stores
each (a scenario = m x n series; the supplier feeds the warehouses, warehouse j the
stores j n .. (j + 1) n - 1); lost demand, profit mode (SPEC §2).

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


def sales_network(stores: int, max_lead_time: int, warehouses: int) -> Network:
    """Stores fed by the supplier, or by `warehouses` warehouses (stores / warehouses
    consecutive stores each) that the supplier feeds."""
    shops = tuple(Location(store_name(i), "store", slots=max_lead_time) for i in range(stores))
    if not warehouses:
        return Network(shops, tuple(Edge(SUPPLIER, s.name, max_lead_time) for s in shops))
    hubs = tuple(Location(f"warehouse_{j:02d}", "warehouse", slots=WAREHOUSE_LEAD_TIME)
                 for j in range(warehouses))
    per = stores // warehouses
    edges = tuple(Edge(SUPPLIER, h.name, WAREHOUSE_LEAD_TIME) for h in hubs) + tuple(
        Edge(hubs[i // per].name, s.name, max_lead_time) for i, s in enumerate(shops))
    return Network(hubs + shops, edges)


def make_problem_for(stores: int, max_lead_time: int, warehouses: int,
                     demand_history: int = 16) -> Problem:
    """A profit-mode, lost-demand problem whose stores have up to `max_lead_time`.

    Args:
      stores: stores per scenario (1 without a warehouse), a multiple of `warehouses`.
      max_lead_time: the largest store lead time (the store vector's width).
      warehouses: 0 (stores order from the supplier) or the number of warehouses
        (lead time 3, h = 0.3).
      demand_history: past demands per store kept in the state (policy input).
    """
    warehouses = int(warehouses)
    if warehouses < 0 or stores < 1 or (not warehouses and stores != 1) or (
            warehouses and stores % warehouses):
        raise ValueError(f"stores: {stores} with {warehouses} warehouses; allowed: 1 without "
                         "a warehouse, a positive multiple of the warehouses with")
    structure = Structure(
        name=f"sales_{warehouses}_warehouses" if warehouses else "sales_store",
        network=sales_network(stores, int(max_lead_time), warehouses), lost_demand=True,
        maximize_profit=True, demand=Demand("normal", clip=True),
        demand_history=demand_history,
    )
    return make_problem(
        structure, holding_cost=1.0, underage_cost=1.0, demand_mean=1.0, demand_std=1.0,
        **({"warehouse_holding_cost": WAREHOUSE_HOLDING_COST} if warehouses else {}),
    )


def scenario_params(problem: Problem, margin, holding_cost, lead_time, mean, std) -> Params:
    """Per-scenario parameters (leaves [n, locations]) from per-store arrays [n, S]."""
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    base = per_scenario(problem.params, np.shape(margin)[0])
    return base.replace(
        holding_cost=f32(holding_cost), underage_cost=f32(margin),
        lead_time=jnp.asarray(lead_time, jnp.int32), demand_mean=f32(mean),
        demand_std=f32(std))
