"""Static index tables over a network's edges, for policies that read or write per edge.

Everything here runs at trace time on the static `Network` and returns NumPy tables (or
gathers with them), so a jitted policy does no Python work per scenario or period.

References: SPEC §7 (per-edge flows grouped by destination kind).
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

from invjax.network import SUPPLIER, Network, inbound_table


def in_degree(network: Network, kind: str) -> int:
    """Largest number of inbound edges of a location of `kind`."""
    return inbound_table(network, kind).shape[1]


def per_location(network: Network, kind: str, values: jnp.ndarray, fill=0.0) -> jnp.ndarray:
    """Edge values [n, edges into kind] as [n, locations, in-degree] (padding: `fill`)."""
    padded = jnp.concatenate([values, jnp.full(values.shape[:-1] + (1,), fill, values.dtype)],
                             axis=-1)
    return padded[:, inbound_table(network, kind)]


@functools.cache
def edge_table(network: Network, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(location, slot) of every edge into `kind` in `per_location`'s layout: edge j is
    entry [location[j], slot[j]]."""
    table = inbound_table(network, kind)
    location = np.zeros(len(network.edges_into(kind)), np.int32)
    slot = np.zeros_like(location)
    for i, row in enumerate(table):
        for d, j in enumerate(row):
            if j < len(location):
                location[j], slot[j] = i, d
    return location, slot


def per_edge(network: Network, kind: str, values: jnp.ndarray) -> jnp.ndarray:
    """Inverse of `per_location`: [n, locations, in-degree] -> [n, edges into kind]."""
    location, slot = edge_table(network, kind)
    return values[:, location, slot]


@functools.cache
def source_table(network: Network, kind: str) -> np.ndarray:
    """[locations of `kind`, in-degree] index of each inbound edge's source among the
    warehouses; -1 for the supplier and for padding."""
    edges = network.edges_into(kind)
    out = np.full(inbound_table(network, kind).shape, -1, np.int32)
    for i, row in enumerate(inbound_table(network, kind)):
        for d, j in enumerate(row):
            if j < len(edges) and edges[j].source != SUPPLIER:
                src_kind, w = network.index(edges[j].source)
                out[i, d] = w if src_kind == "warehouse" else -1
    return out


@functools.cache
def chain_stages(network: Network) -> tuple[tuple[str, int], ...]:
    """(kind, position) of every stage of a serial chain, upstream first (store last)."""
    stages, current = [], SUPPLIER
    while True:
        (edge,) = [e for e in network.edges if e.source == current]
        stages.append(network.index(edge.destination))
        current = edge.destination
        if stages[-1][0] == "store":
            return tuple(stages)


UPSTREAM_FIRST = ("echelon", "warehouse", "store")


@functools.cache
def _chain_order(network: Network):
    """Positions of the chain's stages in the kind-major layout (echelons, warehouses,
    store); None when the chain is in that layout already (every setting of the paper)."""
    layout = [(k, i) for k in UPSTREAM_FIRST for i in range(network.count(k))]
    order = np.asarray([layout.index(stage) for stage in chain_stages(network)])
    return None if np.array_equal(order, np.arange(len(order))) else order


def stack_stages(network: Network, per_kind: dict) -> jnp.ndarray:
    """Per-kind arrays {kind: [n, count]} as [n, stages] in chain order (upstream first)."""
    x = jnp.concatenate([per_kind[k] for k in UPSTREAM_FIRST], axis=-1)
    order = _chain_order(network)
    return x if order is None else x[:, order]


def unstack_stages(network: Network, x: jnp.ndarray) -> dict:
    """Inverse of `stack_stages`: [n, stages] -> {kind: [n, count]}."""
    order = _chain_order(network)
    if order is not None:
        x = x[:, np.argsort(order)]
    out, start = {}, 0
    for kind in UPSTREAM_FIRST:
        out[kind] = x[:, start:start + network.count(kind)]
        start += network.count(kind)
    return out
