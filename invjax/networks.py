"""The standard networks, built as `invjax.network.Network` values.

    chain(["warehouse", "store"], ["warehouse", "store"], [3, 2], [1, 4])
    one_warehouse([2, 3, 3], store_slots=3, warehouse_lead_time=3)

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 5; SPEC §3, §7.
"""

from __future__ import annotations

from typing import Iterable, Sequence

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
