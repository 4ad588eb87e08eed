"""invjax's GNN policy (SPEC §8) in plain PyTorch, for the speed rows of `benchmarks.speed`
and `benchmarks.gnn`: the same graph tables (`invjax.policies.graph`), the same inputs
and the same function, so `benchmarks.torch_policies.load_flax` can copy invjax's
parameters and both frameworks compute the same flows (tests/test_torch_port.py).
Aggregation is a product with the constant incidence tables.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.torch_policies import _supplier_cap
from invjax.policies.graph import NODE_TYPES, graph
from invjax.policies.graph import rounds as default_rounds

KINDS = ("store", "warehouse", "echelon")
STATIC_FEATURES = 4
_PREFIX = {"store": "", "warehouse": "warehouse_", "echelon": "echelon_"}


def _mlp(sizes):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ELU())
    return nn.Sequential(*layers)


class GNN(nn.Module):
    """Initial node/edge MLPs, `rounds` residual node and edge updates, output MLP,
    softplus desired flows, per-supplier proportional allocation (keep included),
    supplier orders bent above 4 x the sum of store means."""

    def __init__(self, s, hidden=(32, 32), embedding=32, rounds=None):
        super().__init__()
        self.s, net = s, s.network
        self.g = g = graph(net)
        self.rounds = default_rounds(net) if rounds is None else rounds
        self.width = max(net.width(k) for k in KINDS if net.count(k))
        node_in = self.width + STATIC_FEATURES + len(NODE_TYPES)
        e = embedding
        self.initial_node = _mlp((node_in, *hidden, e))
        self.initial_edge = _mlp((2 * e + 1, *hidden, e))
        self.node_update = _mlp((3 * e, *hidden, e))
        self.edge_update = _mlp((3 * e, *hidden, e))
        self.output = _mlp((e, *hidden, 1))
        for name, value in [("types", np.eye(len(NODE_TYPES), dtype=np.float32)[g.node_kind]),
                            ("incoming", g.incoming), ("outgoing", g.outgoing),
                            ("ships", g.ships), ("exact", g.exact)]:
            self.register_buffer(name, torch.tensor(np.asarray(value, np.float32)))
        self.register_buffer("src", torch.tensor(g.source, dtype=torch.long))
        self.register_buffer("dst", torch.tensor(g.destination, dtype=torch.long))
        self.offset = float(np.log(np.expm1(1.0)))  # initial desired flow: 1 mean demand

    def _nodes(self, state, p, scale):
        net, rows = self.s.network, []
        for kind, inv in zip(KINDS, state):
            if not net.count(kind):
                continue
            inv = F.pad(inv / scale[:, None, None], (0, self.width - inv.shape[-1]))
            h = p[f"{_PREFIX[kind]}holding_cost"]
            if kind == "store":
                cols = [h, p["underage_cost"], p["demand_mean"] / scale[:, None],
                        p["demand_std"] / scale[:, None]]
            elif kind == "warehouse":
                cost = p["warehouse_procurement_cost"]
                dest = [net.index(e.destination)[1] for e in net.edges_into(kind)]
                per = torch.zeros_like(h).index_add(1, torch.tensor(dest, device=h.device), cost)
                cols = [h, per]
            else:
                cols = [h]
            cols += [torch.zeros_like(h)] * (STATIC_FEATURES - len(cols))
            rows.append(torch.cat([inv, torch.stack(cols, -1)], -1))
        n = scale.shape[0]
        virtual = scale.new_zeros(n, 1, self.width + STATIC_FEATURES)
        x = torch.cat([virtual, *rows, virtual], 1)
        return torch.cat([x, self.types.expand(n, -1, -1)], -1)

    def _edge_mlp(self, mlp, h, first, last):
        """mlp([first, h[source], h[destination], last]) with its first layer applied to
        the nodes before the gather, as invjax does."""
        w, b = mlp[0].weight, mlp[0].bias  # [out, in]
        a, width = (0 if first is None else first.shape[-1]), h.shape[-1]
        z = ((h @ w[:, a:a + width].T)[:, self.src] + (h @ w[:, a + width:a + 2 * width].T)[
            :, self.dst] + b)
        if first is not None:
            z = z + first @ w[:, :a].T
        if last is not None:
            z = z + last @ w[:, a + 2 * width:].T
        return mlp[2:](F.elu(z))  # mlp[1] is the ELU just applied

    def forward(self, state, port):
        p, g = port.p, self.g
        scale = p["demand_mean"].mean(-1)
        n = scale.shape[0]
        lead = [p[f"{_PREFIX[k]}lead_time"] for k, size in zip(KINDS, g.group_sizes) if size]
        lead = torch.cat(lead + [scale.new_zeros(n, len(g.source) - g.n_supply)], -1)
        h = self.initial_node(self._nodes(state, p, scale))
        e = self._edge_mlp(self.initial_edge, h, None, lead[..., None])
        for _ in range(self.rounds):
            inc = torch.einsum("ve,nef->nvf", self.incoming, e)
            out = torch.einsum("ve,nef->nvf", self.outgoing, e)
            h = h + self.node_update(torch.cat([h, inc, out], -1))
            e = e + self._edge_mlp(self.edge_update, h, e, None)
        desired = F.softplus(self.output(e[:, :g.n_flow])[..., 0] + self.offset)
        desired = desired * scale[:, None]
        on_hand = [x[..., 0] for k, x in zip(KINDS, state) if self.s.network.count(k)]
        zero = scale.new_zeros(n, 1)
        on_hand = torch.cat([zero, *on_hand, zero], -1)
        ratio = torch.relu(on_hand) / (desired @ self.ships.T + 1e-15)
        ratio = torch.where(self.exact > 0, ratio, torch.clamp(ratio, max=1.0))
        src = self.src[:g.n_flow]
        cap = _supplier_cap(port)  # invjax's `bounded_orders`
        bounded = torch.where(desired <= cap, desired,
                              2 * cap - cap * cap / torch.maximum(desired, cap))
        flows = torch.where(src == 0, bounded, desired * ratio[:, src])
        groups, start = [], 0
        for size in g.group_sizes:
            groups.append(flows[:, start:start + size])
            start += size
        return tuple(groups)


def load(module: GNN, params) -> GNN:
    """Copies invjax's GNN parameters (Flax kernels [in, out]) into `module`."""
    tree = params["params"]
    first = next(module.parameters())
    with torch.no_grad():
        for name in ("initial_node", "initial_edge", "node_update", "edge_update", "output"):
            linears = [m for m in getattr(module, name) if isinstance(m, nn.Linear)]
            for i, linear in enumerate(linears):
                leaf = tree[name][f"layers_{i}"]
                linear.weight.data = torch.tensor(np.asarray(leaf["kernel"]), dtype=first.dtype,
                                                  device=first.device).T.contiguous()
                linear.bias.data = torch.tensor(np.asarray(leaf["bias"]), dtype=first.dtype,
                                                device=first.device)
    return module
