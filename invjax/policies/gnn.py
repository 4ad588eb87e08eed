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
feasible; supplier orders above the vanilla heads' cap (4 x the sum of store means)
bend towards twice it (`bounded_orders`), so no policy can grow its stock without bound.
No weight depends on the network's size: one parameter pytree runs on any
network.

Aggregation is `jax.ops.segment_sum` over the static edge list ("segment", the default:
25% faster on the 2-core CPU) or a product with constant [nodes, edges] incidence tables
("matmul"); `benchmarks/gnn.py` measures both.


References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246 (v3), GNN; SPEC §8.
"""

from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.ad_checkpoint import checkpoint_name

from invjax.dynamics import RESIDUAL, Action, State
from invjax.network import KINDS, Network
from invjax.policies import edges
from invjax.policies.graph import NODE_TYPES, Graph, graph
from invjax.policies.graph import rounds as default_rounds
from invjax.policies.neural import MLP, activation_fn, as_widths, supplier_cap
from invjax.policies.policy import Policy, inverse_softplus, share
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


def _at_edges(g: Graph, h_node, end: str, how: str):
    """Node values [n, V, F] at every edge's source or destination: [n, E, F]. With
    "matmul" a product with a constant one-hot table (its transpose, in the backward
    pass, is another product rather than a scatter-add)."""
    ends = g.source if end == "source" else g.destination
    if how == "matmul":
        return jnp.einsum("ev,nvf->nef", np.eye(g.n_nodes, dtype=np.float32)[ends], h_node)
    return h_node[:, ends]


def bounded_orders(desired: jnp.ndarray, cap: jnp.ndarray) -> jnp.ndarray:
    """Supplier orders: `desired` up to `cap`, above it 2 cap - cap^2 / desired (slope 1
    at cap, rising towards 2 cap, never flat). Every other flow is bounded by an on-hand;
    without this bound a policy whose order grows with its own stock compounds period
    after period until float32 overflows (benchmarks/results/
    serial_chain_gnn_dev_curves.md)."""
    return jnp.where(desired <= cap, desired, 2 * cap - cap * cap / jnp.maximum(desired, cap))


def feasible_flows(g: Graph, desired: jnp.ndarray, on_hand: jnp.ndarray,
                   cap: jnp.ndarray) -> jnp.ndarray:
    """Scales every location's outgoing desired flows (keep included) to its on-hand
    (exactly to it where the location keeps nothing); supplier edges `bounded_orders`.
    desired [n, F] on the first F = `g.n_flow` edges (supply and keep), on_hand [n, V],
    cap [n, 1] -> flows [n, F]."""
    source = g.source[:g.n_flow]
    total = desired @ g.ships.T  # [n, V]
    ratio = share(on_hand, total, exact=g.exact > 0)
    return jnp.where(source == 0, bounded_orders(desired, cap), desired * ratio[:, source])


def _rows(fn, x):
    """fn on x [n, m, F] as one [n * m, F] matrix: XLA:CPU then computes the weight
    gradients as plain 2-D products (on 3-D operands it transposed copies first)."""
    y = fn(x.reshape(-1, x.shape[-1]))
    return y.reshape(x.shape[:-1] + y.shape[-1:])


def _tagger(save: bool):
    return (lambda z: checkpoint_name(z, RESIDUAL)) if save else (lambda z: z)


class _Weights(nn.Module):
    """The kernel [inputs, features] and bias of a Dense layer, for a layer applied in
    parts (same names, shapes and initialisation as `nn.Dense`)."""

    inputs: int
    features: int

    @nn.compact
    def __call__(self):
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (self.inputs, self.features))
        return kernel, self.param("bias", nn.initializers.zeros_init(), (self.features,))


class EdgeMLP(nn.Module):
    """An MLP on [edge state, source node, destination node] (or, without an edge state,
    [source node, destination node, lead time]) whose first layer is applied to the
    nodes before they are gathered to the edges: V rather than E rows per scenario.
    Same parameters as `MLP` on the concatenated input."""

    graph: Graph
    features: tuple[int, ...]
    activation: str
    aggregation: str
    save: bool

    @nn.compact
    def __call__(self, h_node, first, last=None):
        """first: [n, E, a] the edge state (or None); last: [n, E, b] appended after
        the two node blocks (the lead time) or None."""
        g, width = self.graph, h_node.shape[-1]
        a = 0 if first is None else first.shape[-1]
        b = 0 if last is None else last.shape[-1]
        kernel, bias = _Weights(a + 2 * width + b, self.features[0], name="layers_0")()
        src = _rows(lambda x: x @ kernel[a:a + width], h_node)
        dst = _rows(lambda x: x @ kernel[a + width:a + 2 * width], h_node)
        z = (_at_edges(g, src, "source", self.aggregation)
             + _at_edges(g, dst, "destination", self.aggregation) + bias)
        if first is not None:
            z = z + _rows(lambda x: x @ kernel[:a], first)
        if last is not None:
            z = z + last @ kernel[a + 2 * width:]
        act, tag = activation_fn(self.activation), _tagger(self.save)
        z = tag(z)
        for i, size in enumerate(self.features[1:], start=1):
            z = tag(_rows(nn.Dense(size, name=f"layers_{i}"), act(z)))
        return z


class GNN(nn.Module):
    """Message passing on a fixed graph; returns desired flows on the supply and keep
    edges, [n, g.n_flow] (the customer edges only carry messages)."""

    graph: Graph
    hidden: tuple[int, ...]
    embedding: int
    rounds: int
    activation: str
    aggregation: str
    save: bool

    @nn.compact
    def __call__(self, nodes, lead_times):
        g, width, how = self.graph, self.hidden + (self.embedding,), self.aggregation
        act, save = self.activation, self.save
        h_node = _rows(MLP(width, act, save, name="initial_node"), nodes)
        h_edge = EdgeMLP(g, width, act, how, save, name="initial_edge")(h_node, None, lead_times)
        node_update = MLP(width, act, save, name="node_update")
        edge_update = EdgeMLP(g, width, act, how, save, name="edge_update")
        for _ in range(self.rounds):
            incoming = _aggregate(g, h_edge, "incoming", how)
            outgoing = _aggregate(g, h_edge, "outgoing", how)
            h_node = h_node + _rows(node_update, jnp.concatenate([h_node, incoming, outgoing], -1))
            h_edge = h_edge + edge_update(h_node, h_edge)
        flow_edges = h_edge[:, :g.n_flow]
        return _rows(MLP(self.hidden + (1,), act, save, name="output"), flow_edges)[..., 0]


INITIAL_FLOW = 1.0  # initial desired flow on every edge, in mean store demands


def split_flows(g: Graph, flows: jnp.ndarray) -> Action:
    """The supply edges' flows [n, E] as an `Action` (groups in KINDS order)."""
    groups, start = {}, 0
    for field, size in zip(Action._fields, g.group_sizes):
        groups[field] = flows[:, start:start + size] if size else None
        start += size
    return Action(**groups)


@functools.cache
def _gnn(network: Network, hidden, embedding, n_rounds, activation, aggregation, save):
    g = graph(network)
    net = GNN(g, hidden, embedding, n_rounds, activation, aggregation, save)
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
        flows = feasible_flows(g, desired, node_on_hand(network, obs), supplier_cap(obs))
        return split_flows(g, flows)

    return Policy(init, apply)


def gnn(
    problem: Problem,
    hidden: Sequence[int] = (32, 32),
    embedding: int = 32,
    rounds: int | None = None,
    activation: str = "elu",
    aggregation: str = "segment",
    save_activations: bool = False,
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
      save_activations: keep every layer's output for the backward pass instead of
        recomputing it (the rollout differentiates each period under `jax.checkpoint`);
        same function and gradient, more memory, less time (`benchmarks/gnn.py`).

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
                aggregation, bool(save_activations))
