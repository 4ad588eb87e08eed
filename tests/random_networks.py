"""Networks for the network tests: random DAGs and the authors' 2 x 10 network.

Random networks mix stores, warehouses and echelons in a random topological order; each
location has 1..3 inbound edges from the supplier or from earlier non-store locations
(so warehouse -> echelon edges and stores fed by the supplier and a warehouse at once
occur), random lead times and widths, and locations and edges given in shuffled order
(the `Network` puts edges in its canonical order).

References: SPEC §7.
"""

from __future__ import annotations

import numpy as np

import invjax
from invjax.network import SUPPLIER, Edge, Location, Network

# SPEC §7: store lead time from each warehouse (0 = no edge).
MANY_WAREHOUSES_LEAD_TIMES = (
    (0, 0, 6, 6, 6, 0, 6, 5, 6, 0),
    (2, 1, 2, 2, 1, 2, 0, 2, 2, 2),
)


def many_warehouses_network(store_slots: int = 3, warehouse_lead_time: int = 3,
                            warehouse_costs=(0.5, 1.5)) -> Network:
    """The authors' 2 warehouses x 10 stores network, built from SPEC §7's table."""
    stores = tuple(Location(f"store_{j}", "store", store_slots) for j in range(10))
    warehouses = tuple(Location(f"warehouse_{w}", "warehouse") for w in range(2))
    edges = [Edge(SUPPLIER, w.name, warehouse_lead_time, cost)
             for w, cost in zip(warehouses, warehouse_costs)]
    for w, row in zip(warehouses, MANY_WAREHOUSES_LEAD_TIMES):
        edges += [Edge(w.name, s.name, lead) for s, lead in zip(stores, row) if lead]
    return Network(warehouses + stores, tuple(edges))


def many_warehouses_problem(store_slots: int = 3, seed: int = 0) -> invjax.Problem:
    """A lost-demand problem on the 2 x 10 network (store parameters drawn from `seed`)."""
    network = many_warehouses_network(store_slots)
    structure = invjax.Structure(
        name="many_warehouses_test", network=network, lost_demand=True,
        demand=invjax.Demand("normal", clip=True, correlation=0.5))
    rng = np.random.default_rng(seed)
    mean = rng.uniform(2.5, 7.5, 10)
    return invjax.make_problem(
        structure, holding_cost=rng.uniform(0.7, 1.3, 10),
        underage_cost=rng.uniform(6.3, 11.7, 10), demand_mean=mean,
        demand_std=mean * rng.uniform(0.25, 0.5, 10), warehouse_holding_cost=[0.3, 0.4])


def random_network(rng: np.random.Generator, *, max_stores: int = 4,
                   max_upstream: int = 4, max_inbound: int = 3, max_lead: int = 4) -> Network:
    """A random valid network (see the module docstring)."""
    n_stores = int(rng.integers(1, max_stores + 1))
    upstream_kinds = rng.choice(["warehouse", "echelon"], int(rng.integers(0, max_upstream + 1)))
    upstream = [Location(f"{kind[0]}{i}", str(kind), int(rng.integers(1, 4)),
                         keeps_stock=bool(rng.random() < 0.7))
                for i, kind in enumerate(upstream_kinds)]
    stores = [Location(f"s{i}", "store", int(rng.integers(1, 4))) for i in range(n_stores)]
    edges = []
    for k, loc in enumerate(upstream + stores):
        candidates = [SUPPLIER] + [u.name for u in upstream[:min(k, len(upstream))]]
        degree = int(rng.integers(1, min(max_inbound, len(candidates)) + 1))
        for source in rng.choice(candidates, degree, replace=False):
            cost = float(rng.uniform(0.0, 0.5)) if rng.random() < 0.5 else 0.0
            edges.append(Edge(str(source), loc.name, int(rng.integers(1, max_lead + 1)), cost))
    locations = upstream + stores
    return Network(tuple(locations[i] for i in rng.permutation(len(locations))),
                   tuple(edges[i] for i in rng.permutation(len(edges))))


def problem_on(network: Network, rng: np.random.Generator, *, lost_demand: bool,
               maximize_profit: bool = False) -> invjax.Problem:
    """A problem on `network` with random location parameters (edge fields default to
    the network's edges)."""
    structure = invjax.Structure(
        name="random_network", network=network, lost_demand=lost_demand,
        maximize_profit=maximize_profit, demand=invjax.Demand("normal", clip=lost_demand))
    s = network.count("store")
    mean = rng.uniform(2.0, 8.0, s)
    return invjax.make_problem(
        structure, holding_cost=rng.uniform(0.5, 1.5, s),
        underage_cost=rng.uniform(2.0, 12.0, s), demand_mean=mean, demand_std=0.3 * mean,
        warehouse_holding_cost=rng.uniform(0.1, 0.6, network.count("warehouse")),
        echelon_holding_cost=rng.uniform(0.05, 0.3, network.count("echelon")))
