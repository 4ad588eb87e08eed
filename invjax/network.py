"""A supply network as a value: locations, supply edges, and what follows from them.

This module is the one place that knows the topology. A `Network` is static and
hashable (part of a problem's `Structure`, a static argument of every jitted function).
From it follow the array shapes (locations per kind, edges into each kind, inventory
widths), who supplies whom (for the dynamics and for feasible policies), and the
network's `topology`, which decides the optimum to compare with and the policies that
fit.

Conventions:
  - kinds: "store" (faces demand), "warehouse", "echelon" (upstream stage of a chain);
    the external supplier (`SUPPLIER`) is unlimited and has no state;
  - every location keeps one inventory vector [on_hand, pipe_1, ...]; locations of a
    kind share the kind's width K = max over them of (slots, largest inbound lead time);
  - edges are grouped by the kind of their destination (`edges_into`); within a group
    they are ordered by destination, then source (supplier first, then location order).
    A flow array of a kind (`Action.stores`, ...) has one entry per edge of its group.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246; SPEC §1, §7.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers

import numpy as np

SUPPLIER = "supplier"
KINDS = ("store", "warehouse", "echelon")
TOPOLOGIES = (
    "one_store", "independent_stores", "serial", "one_warehouse", "transshipment",
    "many_warehouses", "general",
)


@dataclasses.dataclass(frozen=True)
class Location:
    """A location that holds inventory.

    Attributes:
      name: unique name (not "supplier").
      kind: one of KINDS.
      slots: least width of its inventory vector (the SPEC's inventory_periods).
      keeps_stock: False for a transshipment centre: its policies ship all it holds.
    """

    name: str
    kind: str
    slots: int = 1
    keeps_stock: bool = True


@dataclasses.dataclass(frozen=True)
class Edge:
    """A supply edge: a flow placed in period t is on hand at `destination` in t+L."""

    source: str  # a location's name or SUPPLIER
    destination: str
    lead_time: int
    cost: float = 0.0  # per unit ordered over the edge, paid in the period it is ordered


@dataclasses.dataclass(frozen=True)
class Network:
    """Locations and supply edges; validated on construction, edges put in canonical order.

    Raises:
      ValueError: naming the offending location or edge (unknown kind or name, duplicate
        name or edge, a lead time < 1, a cycle, a location with no inbound edge, a store
        with outbound edges, a store not reachable from the supplier).
    """

    locations: tuple[Location, ...]
    edges: tuple[Edge, ...]

    def __post_init__(self):
        object.__setattr__(self, "locations", tuple(self.locations))
        object.__setattr__(self, "edges", tuple(self.edges))
        _validate(self.locations, self.edges)
        # NumPy scalars (e.g. lead times read from an array) become Python numbers, so
        # that equal networks compare and hash equal.
        locations = tuple(dataclasses.replace(x, slots=int(x.slots)) for x in self.locations)
        edges = tuple(dataclasses.replace(e, lead_time=int(e.lead_time), cost=float(e.cost))
                      for e in self.edges)
        object.__setattr__(self, "locations", locations)
        object.__setattr__(self, "edges", _canonical(locations, edges))

    # Locations ------------------------------------------------------------------------
    def of_kind(self, kind: str) -> tuple[Location, ...]:
        return tuple(loc for loc in self.locations if loc.kind == kind)

    def count(self, kind: str) -> int:
        return len(self.of_kind(kind))

    @functools.cached_property
    def _index(self) -> dict[str, tuple[str, int]]:
        out = {}
        for kind in KINDS:
            for i, loc in enumerate(self.of_kind(kind)):
                out[loc.name] = (kind, i)
        return out

    def index(self, name: str) -> tuple[str, int]:
        """(kind, position among the locations of that kind) of location `name`."""
        if name not in self._index:
            raise ValueError(f"location: unknown {name!r}; known: {sorted(self._index)}")
        return self._index[name]

    def location(self, name: str) -> Location:
        kind, i = self.index(name)
        return self.of_kind(kind)[i]

    def width(self, kind: str) -> int:
        """Width K of the inventory vectors of `kind` (1 when there is none)."""
        widths = [loc.slots for loc in self.of_kind(kind)]
        widths += [e.lead_time for e in self.edges_into(kind)]
        return max(widths, default=1)

    # Edges ----------------------------------------------------------------------------
    def edges_into(self, kind: str) -> tuple[Edge, ...]:
        """Edges whose destination is of `kind`, in flow-array order."""
        return tuple(e for e in self.edges if self.index(e.destination)[0] == kind)

    def inbound(self, name: str) -> tuple[tuple[str, int], ...]:
        """(kind of the group, position in it) of every edge into location `name`."""
        kind, _ = self.index(name)
        return tuple((kind, j) for j, e in enumerate(self.edges_into(kind))
                     if e.destination == name)

    def outbound(self, name: str) -> tuple[tuple[str, int], ...]:
        """(group kind, position) of every edge out of location `name` (or SUPPLIER)."""
        return tuple((kind, j) for kind in KINDS
                     for j, e in enumerate(self.edges_into(kind)) if e.source == name)

    def suppliers(self) -> tuple[Location, ...]:
        """Locations with at least one outbound edge, in location order."""
        sources = {e.source for e in self.edges}
        return tuple(loc for loc in self.locations if loc.name in sources)

    def one_inbound_in_order(self, kind: str) -> bool:
        """True when edge j of the group of `kind` is the only edge into location j."""
        dests = [e.destination for e in self.edges_into(kind)]
        return dests == [loc.name for loc in self.of_kind(kind)]

    # Classification -------------------------------------------------------------------
    @functools.cached_property
    def topology(self) -> str:
        """One of TOPOLOGIES, from the graph alone (names and kinds do not matter)."""
        return _topology(self)

    def topological_order(self) -> list[str]:
        """Location names, each after every location that supplies it."""
        return _topological_order(self.locations, self.edges)

    def longest_path(self) -> int:
        """Largest sum of lead times along a supply path from the supplier to a store."""
        best: dict[str, int] = {SUPPLIER: 0}
        for name in self.topological_order():
            best[name] = max(best[e.source] + e.lead_time for e in self.edges
                             if e.destination == name)
        return max(best[loc.name] for loc in self.of_kind("store"))


def _validate(locations: tuple[Location, ...], edges: tuple[Edge, ...]) -> None:
    names = set()
    for loc in locations:
        if not isinstance(loc, Location):
            raise ValueError(f"locations: expected Location values, got {loc!r}")
        if loc.kind not in KINDS:
            raise ValueError(f"location {loc.name!r}: kind {loc.kind!r}; allowed: {list(KINDS)}")
        if loc.name == SUPPLIER or not isinstance(loc.name, str) or not loc.name:
            raise ValueError(f"location {loc.name!r}: a name must be a non-empty string "
                             f"other than {SUPPLIER!r}")
        if loc.name in names:
            raise ValueError(f"location {loc.name!r}: duplicate name")
        if not _is_integer(loc.slots) or loc.slots < 1:
            raise ValueError(f"location {loc.name!r}: slots must be an integer >= 1, "
                             f"got {loc.slots!r}")
        names.add(loc.name)
    if not any(loc.kind == "store" for loc in locations):
        raise ValueError("locations: a network needs at least one store")
    kinds = {loc.name: loc.kind for loc in locations}
    seen = set()
    for e in edges:
        if not isinstance(e, Edge):
            raise ValueError(f"edges: expected Edge values, got {e!r}")
        label = f"edge {e.source} -> {e.destination}"
        for end in (e.source, e.destination):
            if end != SUPPLIER and end not in names:
                raise ValueError(f"{label}: unknown location {end!r}; known: {sorted(names)}")
        if e.destination == SUPPLIER:
            raise ValueError(f"{label}: the supplier cannot be a destination")
        if e.source == e.destination:
            raise ValueError(f"{label}: a location cannot supply itself")
        if kinds.get(e.source) == "store":
            raise ValueError(f"{label}: a store cannot supply another location")
        if not _is_integer(e.lead_time) or e.lead_time < 1:
            raise ValueError(f"{label}: lead_time must be an integer >= 1, got {e.lead_time!r}")
        if not (_is_number(e.cost) and 0 <= e.cost < float("inf")):
            raise ValueError(f"{label}: cost must be a finite number >= 0, got {e.cost!r}")
        if (e.source, e.destination) in seen:
            raise ValueError(f"{label}: duplicate edge")
        seen.add((e.source, e.destination))
    for loc in locations:
        if not any(e.destination == loc.name for e in edges):
            raise ValueError(f"location {loc.name!r}: no inbound edge (nothing supplies it)")
    _topological_order(locations, edges)  # raises on a cycle
    # Every location has an inbound edge and there is no cycle, so every location,
    # stores included, is reachable from the supplier.


def _is_integer(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _topological_order(locations, edges) -> list[str]:
    """Location names, each after all of its sources; raises ValueError on a cycle."""
    remaining = {loc.name for loc in locations}
    done: set[str] = {SUPPLIER}
    order = []
    while remaining:
        ready = sorted(n for n in remaining
                       if all(e.source in done for e in edges if e.destination == n))
        if not ready:
            cycle = sorted(remaining)
            raise ValueError(f"edges: a cycle (or a location fed only by one) among {cycle}")
        order += ready
        done |= set(ready)
        remaining -= set(ready)
    return order


def _canonical(locations, edges) -> tuple[Edge, ...]:
    position = {}
    for k, kind in enumerate(KINDS):
        for i, loc in enumerate(x for x in locations if x.kind == kind):
            position[loc.name] = (k, i)
    source_rank = lambda s: -1 if s == SUPPLIER else position[s][0] * 10**6 + position[s][1]  # noqa: E731
    return tuple(sorted(edges, key=lambda e: (position[e.destination], source_rank(e.source))))


def _topology(net: Network) -> str:
    stores, warehouses, echelons = (net.of_kind(k) for k in KINDS)
    sources = lambda loc: [e.source for e in net.edges if e.destination == loc.name]  # noqa: E731
    from_supplier = all(sources(s) == [SUPPLIER] for s in stores)
    if not warehouses and not echelons:
        return "one_store" if len(stores) == 1 else "independent_stores"
    if len(stores) == 1 and _is_chain(net):
        return "serial"
    if echelons or from_supplier:
        return "general"
    if not all(sources(w) == [SUPPLIER] for w in warehouses):
        return "general"
    if any(SUPPLIER in sources(s) for s in stores):
        return "general"
    if len(warehouses) == 1:
        return "one_warehouse" if warehouses[0].keeps_stock else "transshipment"
    return "many_warehouses"


def _is_chain(net: Network) -> bool:
    """supplier -> l_0 -> l_1 -> ... -> store, one edge into and out of each stage."""
    current, seen = SUPPLIER, 0
    while True:
        out = [e for e in net.edges if e.source == current]
        if len(out) != 1:
            return False
        current = out[0].destination
        seen += 1
        if net.location(current).kind == "store":
            return seen == len(net.locations) and len(net.edges) == seen


@functools.cache
def inbound_table(network: Network, kind: str) -> np.ndarray:
    """[locations of `kind`, max in-degree] positions of each location's inbound edges
    in the kind's edge group, in canonical order (supplier first); padding = the group's
    size (the position of a value appended after the group)."""
    rows = [[j for _, j in network.inbound(loc.name)] for loc in network.of_kind(kind)]
    width = max((len(r) for r in rows), default=0)
    pad = len(network.edges_into(kind))
    return np.asarray([r + [pad] * (width - len(r)) for r in rows], np.int32).reshape(
        len(rows), width)
