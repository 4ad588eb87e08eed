"""A graph neural network policy for any network (SPEC §8; the paper's v3 architecture).

The graph (`invjax.policies.graph`) has a node per location plus a supplier and a
customer node, the supply edges, a "keep" self-loop on every supplying location that
may hold stock, and store -> customer edges. Node inputs: the inventory vector (zero
padded to the widest kind, in units of the scenario's mean store demand), static
features (stores: h, p, mean, std; warehouses: h and inbound edge cost; stages: h) and
a one-hot of the node type. Edge inputs: [source embedding, destination embedding,
lead time]. Four MLPs (initial node, initial edge, node update, edge update; hidden
[32, 32], ELU, output 32) and `rounds` message-passing steps:
  node <- node + MLP([node, sum of incoming edges / sqrt(in-degree),
                            sum of outgoing edges / sqrt(out-degree)])
  edge <- edge + MLP([edge, source node, destination node]).
An output MLP on every edge gives a desired flow softplus(out + b) x mean store demand
(b puts the initial desired flow at the mean demand, the SPEC's initial bias 5 at the
paper's demand scale). Every supplying location then scales its outgoing desired flows,
keep included, to its on-hand (all of it on a transshipment centre), so every flow is
feasible. No weight depends on the network's size: one parameter pytree runs on any
network.

Aggregation is a product with constant [nodes, edges] incidence tables ("matmul") or
`jax.ops.segment_sum` over the static edge list ("segment"); `benchmarks/gnn.py`
measures both.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246 (v3), GNN; SPEC §8.
"""

from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from invjax.dynamics import Action, State
from invjax.network import KINDS, Network
from invjax.policies import edges
from invjax.policies.graph import CUSTOMER, NODE_TYPES, Graph, graph
from invjax.policies.graph import rounds as default_rounds
from invjax.policies.neural import MLP, activation_fn, as_widths
from invjax.policies.policy import Policy, inverse_softplus
from invjax.policies.registry import require
from invjax.problem import Problem

AGGREGATIONS = ("matmul", "segment")
STATIC_FEATURES = 4  # stores: h, p, mean, std (others zero padded)
_EDGE_FIELDS = {  # kind -> (lead time field, procurement cost field) of edges into it
    "store": ("lead_time", "procurement_cost"),
    "warehouse": ("warehouse_lead_time", "warehouse_procurement_cost"),
    "echelon": ("echelon_lead_time", "echelon_procurement_cost"),
}
_HOLDING = {"store": "holding_cost", "warehouse": "warehouse_holding_cost",
            "echelon": "echelon_holding_cost"}


def demand_scale(obs: State) -> jnp.ndarray:
    """Mean store demand per scenario, [n]: the unit of the GNN's inventories and flows."""
    return obs.params.demand_mean.astype(jnp.float32).mean(-1)


def _static_features(network: Network, obs: State, kind: str, scale) -> jnp.ndarray:
    """[n, locations of kind, STATIC_FEATURES]."""
    p = obs.params
    h = getattr(p, _HOLDING[kind]).astype(jnp.float32)
    if kind == "store":
        cols = [h, p.underage_cost.astype(jnp.float32), p.demand_mean / scale[:, None],
                p.demand_std / scale[:, None]]
    elif kind == "warehouse":
        cost = getattr(p, _EDGE_FIELDS[kind][1]).astype(jnp.float32)
        cols = [h, edges.per_location(network, kind, cost).sum(-1)]
    else:
        cols = [h]
    cols += [jnp.zeros_like(h)] * (STATIC_FEATURES - len(cols))
    return jnp.stack(cols, axis=-1)


def node_inputs(network: Network, obs: State) -> jnp.ndarray:
    """[n, nodes, width + STATIC_FEATURES + len(NODE_TYPES)] in `graph` node order."""
    scale = demand_scale(obs)
    n = scale.shape[0]
    width = max(network.width(k) for k in KINDS if network.count(k))
    rows = []
    for kind in KINDS:
        if not network.count(kind):
            continue
        inv = getattr(obs, f"{kind}_inventory").astype(jnp.float32) / scale[:, None, None]
        inv = jnp.pad(inv, ((0, 0), (0, 0), (0, width - inv.shape[-1])))
        rows.append(jnp.concatenate([inv, _static_features(network, obs, kind, scale)], -1))
    virtual = jnp.zeros((n, 1, width + STATIC_FEATURES), jnp.float32)
    x = jnp.concatenate([virtual] + rows + [virtual], axis=1)
    types = np.eye(len(NODE_TYPES), dtype=np.float32)[graph(network).node_kind]
    return jnp.concatenate([x, jnp.broadcast_to(types, (n,) + types.shape)], axis=-1)


def edge_lead_times(network: Network, obs: State) -> jnp.ndarray:
    """[n, edges, 1]: every supply edge's lead time, 0 on keep and customer edges."""
    g = graph(network)
    parts = [getattr(obs.params, _EDGE_FIELDS[k][0]).astype(jnp.float32)
             for k, size in zip(KINDS, g.group_sizes) if size]
    n = parts[0].shape[0]
    parts.append(jnp.zeros((n, len(g.source) - g.n_supply), jnp.float32))
    return jnp.concatenate(parts, axis=-1)[..., None]


def node_on_hand(network: Network, obs: State) -> jnp.ndarray:
    """[n, nodes]: every location's on-hand (0 for the supplier and customer nodes)."""
    parts = [getattr(obs, f"{k}_inventory")[..., 0] for k in KINDS if network.count(k)]
    zero = jnp.zeros_like(parts[0][:, :1])
    return jnp.concatenate([zero] + parts + [zero], axis=-1).astype(jnp.float32)


def _aggregate(g: Graph, h_edge, table: str, how: str):
    """Sum of edge states into ("incoming") or out of ("outgoing") every node, each
    scaled by 1/sqrt(degree): [n, E, F] -> [n, V, F]."""
    matrix = getattr(g, table)
    if how == "matmul":
        return jnp.einsum("ve,nef->nvf", matrix, h_edge)
    ends = g.destination if table == "incoming" else g.source
    norm = matrix.max(axis=1)  # 1/sqrt(degree) per node (0 where it has none)
    summed = jax.ops.segment_sum(jnp.moveaxis(h_edge, 1, 0), ends, num_segments=g.n_nodes,
                                 indices_are_sorted=False)
    return jnp.moveaxis(summed, 0, 1) * norm[None, :, None]


def feasible_flows(g: Graph, desired: jnp.ndarray, on_hand: jnp.ndarray) -> jnp.ndarray:
    """Scales every location's outgoing desired flows (keep included) to its on-hand
    (exactly to it where the location keeps nothing); supplier edges unchanged.
    desired [n, E], on_hand [n, V] -> flows [n, E]."""
    counted = np.where(g.edge_type == CUSTOMER, 0.0, 1.0).astype(np.float32)
    onehot = np.zeros((g.n_nodes, len(g.source)), np.float32)
    onehot[g.source, np.arange(len(g.source))] = counted
    total = desired @ onehot.T  # [n, V]
    ratio = jax.nn.relu(on_hand) / (total + 1e-15)
    ratio = jnp.where(g.exact > 0, ratio, jnp.minimum(1.0, ratio))
    from_supplier = (g.source == 0)
    return jnp.where(from_supplier, desired, desired * ratio[:, g.source])


class GNN(nn.Module):
    """Message passing on a fixed graph; returns desired flows per edge, [n, E]."""

    graph: Graph
    hidden: tuple[int, ...]
    embedding: int
    rounds: int
    activation: str
    aggregation: str

    @nn.compact
    def __call__(self, nodes, lead_times):
        g, width = self.graph, self.hidden + (self.embedding,)
        mlp = functools.partial(MLP, width, self.activation)
        h_node = mlp(name="initial_node")(nodes)
        h_edge = mlp(name="initial_edge")(
            jnp.concatenate([h_node[:, g.source], h_node[:, g.destination], lead_times], -1))
        node_update, edge_update = mlp(name="node_update"), mlp(name="edge_update")
        for _ in range(self.rounds):
            incoming = _aggregate(g, h_edge, "incoming", self.aggregation)
            outgoing = _aggregate(g, h_edge, "outgoing", self.aggregation)
            h_node = h_node + node_update(jnp.concatenate([h_node, incoming, outgoing], -1))
            h_edge = h_edge + edge_update(
                jnp.concatenate([h_edge, h_node[:, g.source], h_node[:, g.destination]], -1))
        return MLP(self.hidden + (1,), self.activation, name="output")(h_edge)[..., 0]


INITIAL_FLOW = 1.0  # initial desired flow on every edge, in mean store demands


def split_flows(g: Graph, flows: jnp.ndarray) -> Action:
    """The supply edges' flows [n, E] as an `Action` (groups in KINDS order)."""
    groups, start = {}, 0
    for field, size in zip(Action._fields, g.group_sizes):
        groups[field] = flows[:, start:start + size] if size else None
        start += size
    return Action(**groups)


@functools.cache
def _gnn(network: Network, hidden, embedding, n_rounds, activation, aggregation):
    g = graph(network)
    net = GNN(g, hidden, embedding, n_rounds, activation, aggregation)
    offset = inverse_softplus(INITIAL_FLOW)

    def inputs(obs):
        return node_inputs(network, obs), edge_lead_times(network, obs)

    @jax.jit
    def init(key):
        nodes_width = max(network.width(k) for k in KINDS if network.count(k))
        nodes = jnp.zeros((1, g.n_nodes, nodes_width + STATIC_FEATURES + len(NODE_TYPES)))
        return net.init(key, nodes, jnp.zeros((1, len(g.source), 1)))

    def apply(params, obs: State) -> Action:
        out = net.apply(params, *inputs(obs))
        desired = jax.nn.softplus(out + offset) * demand_scale(obs)[:, None]
        return split_flows(g, feasible_flows(g, desired, node_on_hand(network, obs)))

    return Policy(init, apply)


def gnn(
    problem: Problem,
    hidden: Sequence[int] = (32, 32),
    embedding: int = 32,
    rounds: int | None = None,
    activation: str = "elu",
    aggregation: str = "matmul",
) -> Policy:
    """The GNN policy of SPEC §8 for the problem's network.

    Args:
      problem: the problem (or its `Structure`); any network.
      hidden: hidden widths of every MLP (paper: [32, 32]).
      embedding: width of node and edge states (paper: 32).
      rounds: message-passing steps; None: `invjax.policies.graph.rounds` (1 on
        warehouse-store networks, one per stage on chains).
      activation: name in `invjax.policies.neural.ACTIVATIONS`.
      aggregation: "matmul" or "segment" (same function, different kernels).

    Returns:
      A cached `Policy`; its parameters fit every network (same pytree shapes).

    Raises:
      ValueError: naming the bad option.

    References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246 (v3); SPEC §8.
    """
    s = problem.structure if isinstance(problem, Problem) else problem
    require("gnn", s)
    activation_fn(activation)
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation: unknown {aggregation!r}; allowed: {list(AGGREGATIONS)}")
    if rounds is not None and (isinstance(rounds, bool) or not isinstance(rounds, int)
                               or rounds < 1):
        raise ValueError(f"rounds: must be an integer >= 1 or None, got {rounds!r}")
    (embedding,) = as_widths([embedding], "embedding")
    n_rounds = default_rounds(s.network) if rounds is None else rounds
    return _gnn(s.network, as_widths(hidden, "hidden"), embedding, n_rounds, activation,
                aggregation)
