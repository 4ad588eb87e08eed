"""One builder per setting: checked options (see `options.py`) -> a `Problem`.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 5; SPEC §3, §7.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from invjax.network import SUPPLIER, Edge, Network
from invjax.networks import (AUTHORS_2X10, chain, generated_lead_times, many_warehouses,
                             one_warehouse, stores)
from invjax.problem import Demand, Problem, Structure, make_problem

# serial_chain's default rule, stage k above the store (k = 0: the stage just above it):
# lead time CHAIN_LEAD_TIMES[k % 3], holding cost CHAIN_HOLDING[k % 3] / 10**(k // 3)
# times the store's. Four stages give the `serial` setting's (2, 4, 3) and (0.1, 0.2, 0.5).
CHAIN_LEAD_TIMES = (3, 4, 2)
CHAIN_HOLDING = (0.5, 0.2, 0.1)
# many_warehouses: warehouse holding costs and supplier -> warehouse edge costs spread
# evenly over these ranges (the authors' two warehouses: [0.3, 0.4] and [0.5, 1.5]).
WAREHOUSE_HOLDING_RANGE = (0.3, 0.4)
WAREHOUSE_EDGE_COST_RANGE = (0.5, 1.5)


def _one_store(name: str, lost: bool) -> Callable[[dict], Problem]:
    def build(c: dict) -> Problem:
        (store,) = stores(1, c["inventory_periods"])
        network = Network((store,), (Edge(SUPPLIER, store.name, c["lead_time"]),))
        demand = Demand("poisson", clip=False) if lost else Demand("normal", clip=True)
        structure = Structure(name=name, network=network, lost_demand=lost, demand=demand)
        return make_problem(
            structure,
            holding_cost=c["holding_cost"],
            underage_cost=c["underage_cost"],
            demand_mean=c["demand_mean"],
            demand_std=np.sqrt(c["demand_mean"]) if lost else c["demand_std"],
        )

    return build


def _chain_problem(name: str, c: dict, lead_times: list[int], holding: list[float]):
    """supplier -> echelon_0 .. -> warehouse -> store; upstream lists are upstream first."""
    n_echelons = len(lead_times) - 1
    names = [f"echelon_{k}" for k in range(n_echelons)] + ["warehouse", "store"]
    kinds = ["echelon"] * n_echelons + ["warehouse", "store"]
    slots = [1] * (n_echelons + 1) + [c["inventory_periods"]]
    network = chain(names, kinds, lead_times + [c["lead_time"]], slots)
    structure = Structure(name=name, network=network, lost_demand=False,
                          demand=Demand("normal", clip=True))
    return make_problem(
        structure,
        holding_cost=c["holding_cost"], underage_cost=c["underage_cost"],
        demand_mean=c["demand_mean"], demand_std=c["demand_std"],
        warehouse_holding_cost=holding[-1], echelon_holding_cost=holding[:-1],
    )


def _serial(c: dict) -> Problem:
    lead_times, holding = c["upstream_lead_times"], c["upstream_holding_costs"]
    if len(lead_times) != len(holding):
        raise ValueError(
            "serial: upstream_lead_times / upstream_holding_costs: need the same length "
            f"(one entry per stage above the store), got {len(lead_times)} and {len(holding)}"
        )
    return _chain_problem("serial", c, lead_times, holding)


def chain_defaults(n_stages: int, store_holding_cost: float) -> tuple[list, list]:
    """(upstream lead times, upstream holding costs), upstream first, by the default rule."""
    above = range(n_stages - 1)
    lead_times = [CHAIN_LEAD_TIMES[k % 3] for k in above]
    holding = [store_holding_cost * CHAIN_HOLDING[k % 3] / 10 ** (k // 3) for k in above]
    return lead_times[::-1], holding[::-1]


def _serial_chain(c: dict) -> Problem:
    lead_times, holding = chain_defaults(c["n_stages"], c["holding_cost"])
    return _chain_problem("serial_chain", c, lead_times, holding)


def _store_draws(c: dict):
    """Per-store means and cvs, drawn once per instance from `seed` (SPEC §3)."""
    n = c["n_stores"]
    rng = np.random.default_rng(c["seed"])
    mean = rng.uniform(2.5, 7.5, n)
    cv = rng.uniform(0.25, 0.5, n)
    return n, rng, mean, mean * cv


def _transshipment(c: dict) -> Problem:
    n, _, mean, std = _store_draws(c)
    network = one_warehouse([c["lead_time"]] * n, c["inventory_periods"],
                            c["warehouse_lead_time"], keeps_stock=False)
    structure = Structure(
        name="transshipment", network=network, lost_demand=False,
        demand=Demand("normal", clip=False, correlation=c["correlation"]),
    )
    return make_problem(
        structure, holding_cost=c["holding_cost"], underage_cost=c["underage_cost"],
        demand_mean=mean, demand_std=std, warehouse_holding_cost=c["warehouse_holding_cost"],
    )


def _one_warehouse(c: dict) -> Problem:
    n, rng, mean, std = _store_draws(c)
    choices = c["lead_time_choices"]
    holding = rng.uniform(0.7, 1.3, n)
    underage = rng.uniform(6.3, 11.7, n)
    lead_time = rng.choice(choices, n)
    network = one_warehouse(lead_time, max(c["inventory_periods"], max(choices)),
                            c["warehouse_lead_time"], keeps_stock=True)
    structure = Structure(
        name="one_warehouse", network=network, lost_demand=True,
        maximize_profit=c["maximize_profit"],
        demand=Demand("normal", clip=True, correlation=c["correlation"]),
    )
    return make_problem(
        structure, holding_cost=holding, underage_cost=underage,
        demand_mean=mean, demand_std=std, warehouse_holding_cost=c["warehouse_holding_cost"],
    )


def many_warehouse_lead_times(n_warehouses: int, n_stores: int, network_seed: int):
    """The authors' adjacency for (2, 10), else `networks.generated_lead_times`."""
    if n_stores < n_warehouses:
        raise ValueError(f"many_warehouses: n_stores must be >= n_warehouses (every "
                         f"warehouse serves a store), got {n_stores} and {n_warehouses}")
    if (n_warehouses, n_stores) == (2, 10):
        return [list(row) for row in AUTHORS_2X10]
    return generated_lead_times(n_warehouses, n_stores, network_seed)


def _many_warehouses(c: dict) -> Problem:
    n_w = c["n_warehouses"]
    if c["n_stores"] is None:  # the authors' sizes (2, 10), (3, 20), ..., (6, 50)
        c = {**c, "n_stores": 10 * (n_w - 1)}
    lead_times = many_warehouse_lead_times(n_w, c["n_stores"], c["network_seed"])
    n, rng, mean, std = _store_draws(c)  # the draw order of one_warehouse
    holding = rng.uniform(0.7, 1.3, n)
    underage = rng.uniform(6.3, 11.7, n)
    network = many_warehouses(lead_times, c["inventory_periods"], c["warehouse_lead_time"],
                              np.linspace(*WAREHOUSE_EDGE_COST_RANGE, n_w))
    structure = Structure(
        name="many_warehouses", network=network, lost_demand=True,
        demand=Demand("normal", clip=True, correlation=c["correlation"]),
    )
    return make_problem(
        structure, holding_cost=holding, underage_cost=underage, demand_mean=mean,
        demand_std=std, warehouse_holding_cost=np.linspace(*WAREHOUSE_HOLDING_RANGE, n_w),
    )


def _independent_stores(c: dict) -> Problem:
    locations = stores(c["n_stores"], c["inventory_periods"])
    edges = tuple(Edge(SUPPLIER, s.name, c["lead_time"]) for s in locations)
    structure = Structure(name="independent_stores", network=Network(locations, edges),
                          lost_demand=True, demand=Demand("poisson", clip=False))
    return make_problem(
        structure, holding_cost=c["holding_cost"], underage_cost=c["underage_cost"],
        demand_mean=c["demand_mean"], demand_std=np.sqrt(c["demand_mean"]),
    )


BUILDERS: dict[str, Callable[[dict], Problem]] = {
    "one_store_backlogged": _one_store("one_store_backlogged", lost=False),
    "one_store_lost": _one_store("one_store_lost", lost=True),
    "serial": _serial,
    "transshipment": _transshipment,
    "one_warehouse": _one_warehouse,
    "many_warehouses": _many_warehouses,
    "serial_chain": _serial_chain,
    "independent_stores": _independent_stores,
}
