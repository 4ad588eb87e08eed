"""PyTorch ports of invjax's policies (SPEC §4, §7): the vanilla net with its feasible
heads, the symmetry-aware net and the heuristics, on a `torch_port.Port`. `load_flax`
copies invjax's parameters into them, so both frameworks compute the same flows
(tests/test_torch_port.py); the GNN's port is `torch_gnn`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.torch_port import KINDS, _t

UPPER_BOUND_MULT = 4.0
KEEP_LOGIT = 1.0
STORE_FEATURES = ("demand_mean", "demand_std", "underage_cost", "lead_time")


def _total_mean(port):
    return port.p["demand_mean"].sum(-1, keepdim=True)


def _supplier_cap(port):
    return UPPER_BOUND_MULT * _total_mean(port)


def mlp(sizes, final=True):
    """Linear layers with ELU between them (none after the last)."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or not final:
            layers.append(nn.ELU())
    return nn.Sequential(*layers)


class Vanilla(nn.Module):
    """MLP on the flattened state with invjax's feasible output heads."""

    def __init__(self, s, hidden):
        super().__init__()
        self.s = s
        width = (s.n_stores * s.store_slots + s.n_warehouses * s.warehouse_slots
                 + s.n_echelons * s.echelon_slots)
        self.general = s.network.topology in ("many_warehouses", "general")
        out = (len(s.network.edges) if self.general
               else s.n_stores if s.n_warehouses == 0
               else s.n_echelons + 2 if s.n_echelons else s.n_stores + 1)
        self.net = mlp((width, *hidden, out))
        if self.general:
            self.layout = _edge_layout(s.network)

    def forward(self, state, port):
        s = self.s
        n = state[0].shape[0]
        flat = torch.cat([x.reshape(n, -1) for x in state], -1)
        flat = flat / _total_mean(port)  # invjax's scale_inputs
        out = self.net(flat)
        if self.general:
            return _general_heads(s.network, self.layout, out, state, port)
        if s.n_warehouses == 0:
            return F.softplus(out + 1.0), None, None
        if s.n_echelons:
            store, warehouse, echelon = state
            on_hand = torch.cat([echelon[..., 0], warehouse[..., 0]], -1)
            upstream = torch.cat([_supplier_cap(port), torch.relu(on_hand)], -1)
            order = torch.sigmoid(out) * upstream
            e = s.n_echelons
            return order[:, -1:], order[:, e:e + 1], order[:, :e]
        on_hand = torch.relu(state[1][:, 0, :1])
        logits = out[:, :-1]
        if not s.transshipment:
            logits = torch.cat([logits, torch.full_like(logits[:, :1], KEEP_LOGIT)], -1)
        shares = torch.softmax(logits, -1)[:, :s.n_stores]
        return shares * on_hand, torch.sigmoid(out[:, -1:]) * _supplier_cap(port), None


def _edge_layout(network):
    """(supplier edge positions, [(supplying location, positions of its outbound
    edges)], inverse permutation) in the flat per-edge output (groups in KINDS order)."""
    start, offset = {}, 0
    for kind in KINDS:
        start[kind] = offset
        offset += len(network.edges_into(kind))
    flat = lambda refs: [start[g] + j for g, j in refs]  # noqa: E731
    runs = [(loc.name, flat(network.outbound(loc.name))) for loc in network.suppliers()]
    supplier = flat(network.outbound("supplier"))
    order = supplier + [j for _, r in runs for j in r]
    return supplier, runs, torch.tensor(np.argsort(order))


def _on_hand(state, network, name):
    kind, i = network.index(name)
    return state[KINDS.index(kind)][:, i, 0]


def _general_heads(network, layout, out, state, port):
    """invjax's `general_heads`: per supplying location softmax over its edges (and a
    keep logit) x its on-hand; supplier edges sigmoid x 4 x sum of means."""
    supplier, runs, inverse = layout
    parts = [torch.sigmoid(out[:, supplier]) * _supplier_cap(port)]
    for name, positions in runs:
        logits = out[:, positions]
        if network.location(name).keeps_stock:
            logits = torch.cat([logits, torch.full_like(logits[:, :1], KEEP_LOGIT)], -1)
        shares = torch.softmax(logits, -1)[:, :len(positions)]
        parts.append(shares * torch.relu(_on_hand(state, network, name))[:, None])
    flows = torch.cat(parts, -1)[:, inverse.to(out.device)]
    groups, start = [], 0
    for kind in KINDS:
        count = len(network.edges_into(kind))
        groups.append(flows[:, start:start + count])
        start += count
    return tuple(groups)


def allocate(network, state, flows):
    """invjax's `allocate`: every supplying location's outbound flows scaled to its
    on-hand (all of it when the location keeps no stock)."""
    flows = list(flows)
    for loc in network.suppliers():
        refs = network.outbound(loc.name)
        total = sum(flows[KINDS.index(g)][:, j] for g, j in refs)
        ratio = torch.relu(_on_hand(state, network, loc.name)) / (total + 1e-15)
        if loc.keeps_stock:
            ratio = torch.clamp(ratio, max=1.0)
        for g in {g for g, _ in refs}:
            cols = [j for gg, j in refs if gg == g]
            k = KINDS.index(g)
            scale = torch.ones_like(flows[k])
            scale[:, cols] = ratio[:, None]
            flows[k] = flows[k] * scale
    return tuple(flows)


class BaseStockAllocation(nn.Module):
    """invjax's base-stock allocation on a many-warehouse network: store levels split
    over inbound edges by learned shares, warehouse echelon levels, then `allocate`."""

    def __init__(self, s):
        super().__init__()
        net = s.network
        self.s = s
        edges = net.edges_into("store")
        self.store_of_edge = torch.tensor([net.index(e.destination)[1] for e in edges])
        from_w = np.zeros((len(edges), s.n_warehouses), np.float32)
        for j, e in enumerate(edges):
            from_w[j, net.index(e.source)[1]] = 1.0
        self.register_buffer("from_warehouse", torch.tensor(from_w))
        degree = np.bincount(self.store_of_edge.numpy(), minlength=s.n_stores)
        self.split = degree.max() > 1
        self.register_buffer("same_store", torch.tensor(
            (self.store_of_edge.numpy()[:, None] == self.store_of_edge.numpy()[None]),
            dtype=torch.float32))
        self.store_level = nn.Parameter(torch.zeros(s.n_stores))
        self.warehouse_level = nn.Parameter(torch.zeros(s.n_warehouses))
        self.split_logits = nn.Parameter(torch.zeros(len(edges))) if self.split else None

    def shares(self):
        if not self.split:
            return torch.ones_like(self.store_of_edge, dtype=self.store_level.dtype)
        e = torch.exp(self.split_logits - self.split_logits.max())
        return e / (self.same_store @ e)

    def forward(self, state, port):
        store, warehouse, echelon = state
        position = store.sum(-1)
        desired = torch.relu(F.softplus(self.store_level) - position)
        share = self.shares()
        flows = desired[:, self.store_of_edge] * share
        served = (position[:, self.store_of_edge] * share) @ self.from_warehouse
        order = torch.relu(F.softplus(self.warehouse_level) - (warehouse.sum(-1) + served))
        return allocate(self.s.network, state, (flows, order, echelon.new_zeros(
            echelon.shape[0], 0)))


def _allocate(desired, available, exact):
    available = torch.relu(available)
    ratio = available[:, None] / (desired.sum(-1, keepdim=True) + 1e-15)
    return desired * (ratio if exact else torch.clamp(ratio, max=1.0))


class SymmetryAware(nn.Module):
    """Context net, warehouse net and one shared store net (first layer factored: the
    context block of its kernel is applied once per scenario, as in invjax)."""

    def __init__(self, s, context_size=256, context_hidden=(256,), store_hidden=(32, 32),
                 warehouse_hidden=(16, 16)):
        super().__init__()
        self.s = s
        ctx_in = s.n_stores * s.store_slots + s.warehouse_slots
        self.context = mlp((ctx_in, *context_hidden, context_size))
        self.warehouse = mlp((s.warehouse_slots + context_size, *warehouse_hidden, 1))
        self.own_features = s.store_slots + len(STORE_FEATURES)
        sizes = (self.own_features + context_size, *store_hidden, 1)
        self.store = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, state, port):
        s = self.s
        store, warehouse, _ = state
        n = store.shape[0]
        mean = port.p["demand_mean"]  # the context and warehouse nets read scaled inputs
        wh = warehouse[:, 0, :] / _total_mean(port)
        scaled = (store / mean[..., None]).reshape(n, -1)
        context = torch.sigmoid(self.context(torch.cat([scaled, wh], -1)))
        w_out = self.warehouse(torch.cat([wh, context], -1))
        feats = torch.stack([port.p[f] for f in STORE_FEATURES], -1)
        x = torch.cat([store, feats], -1)  # [n, S, F]
        first = self.store[0]
        f = self.own_features
        x = (x @ first.weight[:, :f].T + (context @ first.weight[:, f:].T)[:, None]
             + first.bias)
        for layer in self.store[1:]:
            x = layer(F.elu(x))
        desired = F.softplus(x[..., 0])
        stores = _allocate(desired, warehouse[:, 0, 0], s.transshipment)
        return stores, torch.sigmoid(w_out) * _supplier_cap(port), None


class BaseStock(nn.Module):
    """order = max(softplus(level) - inventory position, 0)."""

    def __init__(self, s):
        super().__init__()
        self.level = nn.Parameter(torch.zeros(s.n_stores))

    def forward(self, state, port):
        return torch.relu(F.softplus(self.level) - state[0].sum(-1)), None, None


class EchelonStock(nn.Module):
    """Serial echelon base-stock, each order capped by the upstream on-hand."""

    def __init__(self, s):
        super().__init__()
        self.s = s
        self.increment = nn.Parameter(torch.zeros(s.n_echelons + 2))

    def forward(self, state, port):
        store, warehouse, echelon = state
        local = torch.cat([echelon.sum(-1), warehouse.sum(-1), store.sum(-1)], -1)
        position = local.flip(-1).cumsum(-1).flip(-1)
        levels = F.softplus(self.increment).flip(0).cumsum(0).flip(0)
        order = torch.relu(levels - position)
        on_hand = torch.cat([echelon[..., 0], warehouse[..., 0], store[..., 0]], -1)
        order = torch.cat([order[:, :1], torch.minimum(order[:, 1:], torch.relu(on_hand[:, :-1]))],
                          -1)
        e = self.s.n_echelons
        return order[:, -1:], order[:, e:e + 1], order[:, :e]


def make_policy(problem, name, **options):
    s = problem.structure
    if name == "gnn":
        from benchmarks.torch_gnn import GNN

        return GNN(s, **options)
    return {"vanilla": Vanilla, "symmetry_aware": SymmetryAware, "base_stock": BaseStock,
            "echelon_stock": EchelonStock,
            "base_stock_allocation": BaseStockAllocation}[name](s, **options)


def load_flax(module: nn.Module, params) -> nn.Module:
    """Copies invjax parameters (a Flax variables dict or a heuristic's dict) into
    `module` (Flax kernels are [in, out], torch weights [out, in]), on the module's
    device."""
    from benchmarks import torch_gnn

    if isinstance(module, torch_gnn.GNN):
        return torch_gnn.load(module, params)
    first = next(module.parameters())
    dtype, device = first.dtype, first.device

    def dense(linear, leaf):
        linear.weight.data = _t(leaf["kernel"], dtype, device).T.contiguous()
        linear.bias.data = _t(leaf["bias"], dtype, device)

    def sequential(seq, tree):
        linears = [m for m in seq if isinstance(m, nn.Linear)]
        for i, linear in enumerate(linears):
            dense(linear, tree[f"layers_{i}"])

    with torch.no_grad():
        if isinstance(module, Vanilla):
            sequential(module.net, params["params"])
        elif isinstance(module, SymmetryAware):
            tree = params["params"]
            sequential(module.context, tree["context"])
            sequential(module.warehouse, tree["warehouse"])
            sequential(module.store, tree["store"])
        elif isinstance(module, BaseStock):
            module.level.data = _t(params["level"], dtype, device)
        elif isinstance(module, EchelonStock):
            module.increment.data = _t(params["increment"], dtype, device)
        elif isinstance(module, BaseStockAllocation):
            module.store_level.data = _t(params["store_level"], dtype, device)
            module.warehouse_level.data = _t(params["warehouse_level"], dtype, device)
            if module.split:
                module.split_logits.data = _t(params["split"], dtype, device)
        else:
            raise TypeError(type(module))
    return module
