"""The standard networks, built as `invjax.network.Network` values.

    chain(["warehouse", "store"], ["warehouse", "store"], [3, 2], [1, 4])
    one_warehouse([2, 3, 3], store_slots=3, warehouse_lead_time=3)
    many_warehouses(AUTHORS_2X10, store_slots=3, warehouse_lead_time=3, warehouse_costs=[0.5, 1.5])

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 5; SPEC §3, §7.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from invjax.network import SUPPLIER, Edge, Location, Network


def stores(n: int, slots: int, prefix: str = "store") -> tuple[Location, ...]:
    """n store locations named prefix_0.. (just `prefix` when n = 1)."""
    return tuple(Location(f"{prefix}_{i}" if n > 1 else prefix, "store", slots)
                 for i in range(n))


def chain(stage_names: Iterable[str], kinds: Iterable[str], lead_times: Iterable[int],
          slots: Iterable[int]) -> Network:
    """A serial chain supplier -> stage_0 -> ... -> stage_{k-1} (the last is the store)."""
    names, kinds, lead_times, slots = (list(x) for x in (stage_names, kinds, lead_times, slots))
    locations = tuple(Location(n, k, s) for n, k, s in zip(names, kinds, slots))
    sources = [SUPPLIER] + names[:-1]
    edges = tuple(Edge(a, b, int(L)) for a, b, L in zip(sources, names, lead_times))
    return Network(locations, edges)


def one_warehouse(store_lead_times: Sequence[int], store_slots: int,
                  warehouse_lead_time: int, keeps_stock: bool = True) -> Network:
    """supplier -> warehouse -> every store (keeps_stock=False: a transshipment centre)."""
    locations = stores(len(store_lead_times), store_slots)
    warehouse = Location("warehouse", "warehouse", keeps_stock=keeps_stock)
    edges = (Edge(SUPPLIER, "warehouse", int(warehouse_lead_time)),) + tuple(
        Edge("warehouse", s.name, int(L)) for s, L in zip(locations, store_lead_times))
    return Network((warehouse,) + locations, edges)


# Store lead time from each warehouse, 0 = no edge: the authors' 2 x 10 network (SPEC §7).
AUTHORS_2X10 = ((0, 0, 6, 6, 6, 0, 6, 5, 6, 0),
                (2, 1, 2, 2, 1, 2, 0, 2, 2, 2))
SECOND_WAREHOUSE_PROBABILITY = 0.7  # the authors' 2 x 10 network: 7 of 10 stores have two
MAX_GENERATED_LEAD_TIME = 6


def many_warehouses(lead_times: Sequence[Sequence[int]], store_slots: int,
                    warehouse_lead_time: int, warehouse_costs: Sequence[float]) -> Network:
    """supplier -> warehouse_w (cost warehouse_costs[w]) -> the stores it serves.

    Args:
      lead_times: [n_warehouses][n_stores] edge lead times, 0 where there is no edge.
      store_slots: least width of a store's inventory vector.
      warehouse_lead_time: of every supplier -> warehouse edge.
      warehouse_costs: [n_warehouses] per-unit cost of the supplier -> warehouse edges.
    """
    rows = [list(r) for r in lead_times]
    locations = stores(len(rows[0]), store_slots)
    warehouses = tuple(Location(f"warehouse_{w}", "warehouse") for w in range(len(rows)))
    edges = [Edge(SUPPLIER, w.name, int(warehouse_lead_time), float(c))
             for w, c in zip(warehouses, warehouse_costs)]
    edges += [Edge(w.name, s.name, int(L)) for w, row in zip(warehouses, rows)
              for s, L in zip(locations, row) if L]
    return Network(warehouses + locations, tuple(edges))


def generated_lead_times(n_warehouses: int, n_stores: int, seed: int) -> list[list[int]]:
    """The seeded rule for the many-warehouse networks whose adjacency is not published.

    Store i is served by warehouse i mod n_warehouses (so every warehouse serves a store
    when n_stores >= n_warehouses) and, with probability SECOND_WAREHOUSE_PROBABILITY, by
    a second warehouse drawn uniformly from the others; every edge's lead time is drawn
    uniformly from 1..MAX_GENERATED_LEAD_TIME. One generator, `np.random.default_rng(seed)`,
    draws per store, in store order: the coin, the second warehouse, then the lead times
    (first of the edge from warehouse i mod n, then of the second edge).

    Returns:
      [n_warehouses][n_stores] lead times, 0 where there is no edge.
    """
    if n_warehouses < 1 or n_stores < n_warehouses:
        raise ValueError(f"n_warehouses, n_stores: need 1 <= n_warehouses <= n_stores, got "
                         f"{n_warehouses} and {n_stores}")
    rng = np.random.default_rng(seed)
    out = [[0] * n_stores for _ in range(n_warehouses)]
    for i in range(n_stores):
        first = i % n_warehouses
        served = [first]
        if n_warehouses > 1 and rng.random() < SECOND_WAREHOUSE_PROBABILITY:
            others = [w for w in range(n_warehouses) if w != first]
            served.append(others[int(rng.integers(len(others)))])
        for w in served:
            out[w][i] = int(rng.integers(1, MAX_GENERATED_LEAD_TIME + 1))
    return out
