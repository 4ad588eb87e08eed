"""The one place that builds simulator problems and parameters for sales data.

One store per series (stores order from the supplier), or one warehouse with n stores
(a scenario = n series); lost demand, profit mode (SPEC §2).

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 7; SPEC §2, §10.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from invjax.problem import Demand, Params, Problem, Structure, make_problem

WAREHOUSE_LEAD_TIME = 3
WAREHOUSE_HOLDING_COST = 0.3


def make_problem_for(n_stores: int, max_lead_time: int, warehouse: bool) -> Problem:
    """A profit-mode, lost-demand problem whose stores have up to `max_lead_time`.

    Args:
      n_stores: stores per scenario (1 without a warehouse).
      max_lead_time: the largest store lead time (the store vector's width).
      warehouse: whether the stores order from one warehouse (lead time 3, h = 0.3).
    """
    if n_stores < 1 or (not warehouse and n_stores != 1):
        raise ValueError(f"n_stores: {n_stores}; allowed: 1 without a warehouse, >= 1 with")
    structure = Structure(
        name="sales_warehouse" if warehouse else "sales_store", n_stores=n_stores,
        n_warehouses=int(warehouse), n_echelons=0, store_slots=int(max_lead_time),
        warehouse_slots=WAREHOUSE_LEAD_TIME, echelon_slots=1, lost_demand=True,
        maximize_profit=True, demand=Demand("normal", clip=True),
    )
    return make_problem(
        structure, holding_cost=1.0, underage_cost=1.0, lead_time=int(max_lead_time),
        demand_mean=1.0, demand_std=1.0, warehouse_holding_cost=WAREHOUSE_HOLDING_COST,
        warehouse_lead_time=WAREHOUSE_LEAD_TIME,
    )


def scenario_params(problem: Problem, margin, holding_cost, lead_time, mean, std) -> Params:
    """Per-scenario parameters (leaves [n, locations]) from per-store arrays [n, S]."""
    n = np.shape(margin)[0]
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    tile = lambda x: jnp.broadcast_to(x, (n,) + x.shape[-1:])  # noqa: E731
    p = problem.params
    return Params(
        holding_cost=f32(holding_cost), underage_cost=f32(margin),
        lead_time=jnp.asarray(lead_time, jnp.int32), demand_mean=f32(mean),
        demand_std=f32(std), warehouse_holding_cost=tile(p.warehouse_holding_cost),
        warehouse_procurement_cost=tile(p.warehouse_procurement_cost),
        warehouse_lead_time=tile(p.warehouse_lead_time),
        echelon_holding_cost=tile(p.echelon_holding_cost),
        echelon_lead_time=tile(p.echelon_lead_time),
    )
