"""The graph a GNN policy runs on, as static index tables over a `Network` (SPEC §8).

Nodes: the supplier, every location (stores, warehouses, echelons, in that kind order
and in location order within a kind) and one customer node. Edges, in this order:
  1. the network's supply edges, grouped by destination kind in `KINDS` order and in
     `Network.edges_into` order within a group, so the first `n_supply` graph edges
     are the flat flows of an `Action` (stores, then warehouses, then echelons);
  2. a self-loop ("keep inventory") on every supplying location that keeps stock
     (none on a transshipment centre);
  3. store -> customer, one per store.

Everything here is NumPy computed once per network (`functools.cache`), so a jitted
policy only gathers and multiplies by constant tables.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246 (v3), GNN; SPEC §7, §8.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from invjax.network import KINDS, SUPPLIER, Network

NODE_TYPES = ("supplier",) + KINDS + ("customer",)
SUPPLY, KEEP, CUSTOMER = 0, 1, 2  # edge types


class Graph(NamedTuple):
    """Static tables of a network's graph (V nodes, E edges)."""

    node_kind: np.ndarray  # [V] index into NODE_TYPES
    node_position: np.ndarray  # [V] position among the locations of its kind (-1: virtual)
    source: np.ndarray  # [E] source node of every edge
    destination: np.ndarray  # [E] destination node of every edge
    edge_type: np.ndarray  # [E] SUPPLY, KEEP or CUSTOMER
    group_sizes: tuple[int, ...]  # supply edges into each kind, KINDS order
    exact: np.ndarray  # [V] 1.0 where a node ships all it holds (a transshipment centre)
    incoming: np.ndarray  # [V, E] one-hot of edges into each node / sqrt(in-degree)
    outgoing: np.ndarray  # [V, E] one-hot of edges out of each node / sqrt(out-degree)
    ships: np.ndarray  # [V, F] one-hot of the flow edges (supply, keep) out of each node

    @property
    def n_supply(self) -> int:
        return sum(self.group_sizes)

    @property
    def n_flow(self) -> int:
        """Edges that carry flows (supply and keep edges; the customer edges come last)."""
        return self.ships.shape[1]

    @property
    def n_nodes(self) -> int:
        return len(self.node_kind)


def _nodes(network: Network) -> tuple[list[int], list[int], dict[str, int]]:
    kinds, positions, index = [NODE_TYPES.index("supplier")], [-1], {SUPPLIER: 0}
    for kind in KINDS:
        for i, loc in enumerate(network.of_kind(kind)):
            index[loc.name] = len(kinds)
            kinds.append(NODE_TYPES.index(kind))
            positions.append(i)
    kinds.append(NODE_TYPES.index("customer"))
    positions.append(-1)
    return kinds, positions, index


def _scaled_incidence(ends: np.ndarray, n_nodes: int) -> np.ndarray:
    """[V, E]: 1/sqrt(degree) where edge e ends (or starts) at node v, else 0."""
    onehot = np.zeros((n_nodes, len(ends)), np.float32)
    onehot[ends, np.arange(len(ends))] = 1.0
    degree = np.maximum(onehot.sum(1, keepdims=True), 1.0)
    return onehot / np.sqrt(degree)


@functools.cache
def graph(network: Network) -> Graph:
    """The graph of SPEC §8 for `network` (see the module docstring for the order)."""
    kinds, positions, index = _nodes(network)
    customer = len(kinds) - 1
    source, destination, edge_type = [], [], []
    group_sizes = []
    for kind in KINDS:
        group = network.edges_into(kind)
        group_sizes.append(len(group))
        for e in group:
            source.append(index[e.source])
            destination.append(index[e.destination])
            edge_type.append(SUPPLY)
    exact = np.zeros(len(kinds), np.float32)
    for loc in network.suppliers():
        if loc.keeps_stock:
            source.append(index[loc.name])
            destination.append(index[loc.name])
            edge_type.append(KEEP)
        else:
            exact[index[loc.name]] = 1.0
    for loc in network.of_kind("store"):
        source.append(index[loc.name])
        destination.append(customer)
        edge_type.append(CUSTOMER)
    source, destination = np.asarray(source, np.int32), np.asarray(destination, np.int32)
    n_flow = len(source) - network.count("store")  # all but the customer edges
    ships = np.zeros((len(kinds), n_flow), np.float32)
    ships[source[:n_flow], np.arange(n_flow)] = 1.0
    return Graph(
        node_kind=np.asarray(kinds, np.int32),
        node_position=np.asarray(positions, np.int32),
        source=source,
        destination=destination,
        edge_type=np.asarray(edge_type, np.int32),
        group_sizes=tuple(group_sizes),
        exact=exact,
        incoming=_scaled_incidence(destination, len(kinds)),
        outgoing=_scaled_incidence(source, len(kinds)),
        ships=ships,
    )


def rounds(network: Network) -> int:
    """Message-passing rounds (SPEC §8): one per stage on a serial chain (upstream
    stages + 1), otherwise the number of locations before a store on the longest
    supply path (1 for warehouse-store networks), at least 1."""
    if network.topology == "serial":
        return len(network.locations)
    hops: dict[str, int] = {SUPPLIER: 0}
    for name in network.topological_order():
        hops[name] = 1 + max(hops[e.source] for e in network.edges if e.destination == name)
    deepest = max(hops[loc.name] for loc in network.of_kind("store"))
    return max(1, deepest - 1)
