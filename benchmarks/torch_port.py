"""A plain-PyTorch port of invjax's dynamics (SPEC §2) and HDPO step, written only to
time invjax against PyTorch on the same problem (its policies: `torch_policies`).

It mirrors invjax array for array: states [n, locations, slots], orders [n, locations],
per-scenario parameters [n, locations]; one period is policy -> store demand ->
warehouse -> echelons -> pipeline shift. Both frameworks compute the same costs
(tests/test_torch_port.py).

    port = Port.from_invjax(problem, scenarios)
    net = make_policy(problem, "vanilla", hidden=(32, 32, 32)); load_flax(net, params)
    loss = rollout(port, net)            # mean cost per store per period (HDPO loss)
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _t(x, dtype=torch.float32, device=None):
    return torch.tensor(np.asarray(x), dtype=dtype, device=device)


@dataclasses.dataclass
class Port:
    """One batch of scenarios of one problem, as torch tensors."""

    structure: object  # invjax Structure (static facts only)
    demand: torch.Tensor  # [n, T, S], as invjax's Scenarios (period t: a strided view)
    store: torch.Tensor  # [n, S, Ks] initial
    warehouse: torch.Tensor  # [n, W, Kw]
    echelon: torch.Tensor  # [n, E, Ke]
    p: dict  # per-scenario params [n, locations] (float32)
    store_slot: torch.Tensor  # [n, S, Ks] one-hot of lead_time - 1
    warehouse_slot: torch.Tensor
    echelon_slot: torch.Tensor
    ignore_periods: int = 0
    tables: Optional[dict] = None  # general networks only (`network_tables`)

    @classmethod
    def from_invjax(cls, problem, scenarios, ignore_periods: Optional[int] = None,
                    dtype=torch.float32, device=None) -> "Port":
        s = problem.structure
        prm = {k: _t(v, dtype, device) for k, v in vars(scenarios.params).items()}

        def slot(lead, width):
            return F.one_hot(lead.long() - 1, width).to(dtype)

        general = not all(s.network.one_inbound_in_order(k) for k in KINDS)

        return cls(
            structure=s,
            demand=_t(scenarios.demand, dtype, device),
            store=_t(scenarios.store_inventory, dtype, device),
            warehouse=_t(scenarios.warehouse_inventory, dtype, device),
            echelon=_t(scenarios.echelon_inventory, dtype, device),
            p=prm,
            store_slot=slot(prm["lead_time"], s.store_slots),
            warehouse_slot=slot(prm["warehouse_lead_time"], s.warehouse_slots),
            echelon_slot=slot(prm["echelon_lead_time"], s.echelon_slots),
            ignore_periods=scenarios.ignore_periods if ignore_periods is None else ignore_periods,
            tables=network_tables(s, prm, dtype, device) if general else None,
        )


KINDS = ("store", "warehouse", "echelon")
_PREFIX = {"store": "", "warehouse": "warehouse_", "echelon": "echelon_"}


def network_tables(s, prm, dtype, device) -> dict:
    """Static tables of a general network (SPEC §7): per kind, the inbound edges of each
    location padded to the largest in-degree ([m, d] positions into the kind's flows,
    padding = a zero flow appended), the one-hot booking slot of each ([n, m, d, K]),
    and the incidence of every flow group on the kind's suppliers ([E_g, m])."""
    net = s.network
    tables = {}
    for kind in KINDS:
        locations = net.of_kind(kind)
        if not locations:
            continue
        rows = [[j for _, j in net.inbound(loc.name)] for loc in locations]
        pad = len(net.edges_into(kind))
        degree = max(len(r) for r in rows)
        index = torch.tensor([r + [pad] * (degree - len(r)) for r in rows], device=device)
        lead = torch.cat([prm[f"{_PREFIX[kind]}lead_time"],
                          torch.zeros_like(prm[f"{_PREFIX[kind]}lead_time"][:, :1])], -1)
        width = net.width(kind)
        slot = F.one_hot(lead[:, index].long(), width + 1)[..., 1:].to(dtype)  # L=0: none
        incidence = {}
        for group in KINDS:
            edges = net.edges_into(group)
            names = [loc.name for loc in locations]
            inc = np.zeros((len(edges), len(locations)))
            for j, e in enumerate(edges):
                if e.source in names:
                    inc[j, names.index(e.source)] = 1.0
            if inc.any():
                incidence[group] = _t(inc, dtype, device)
        tables[kind] = {"index": index, "slot": slot, "incidence": incidence}
    return tables


def store_period(s, p, on_hand, demand):
    """Store cost [n] of one period (SPEC §2) and the on-hand left after demand."""
    x = on_hand - demand
    excess = torch.relu(x)
    if s.maximize_profit:
        cost = (-p["underage_cost"] * torch.minimum(on_hand, demand)
                + p["holding_cost"] * excess).sum(-1)
    else:
        cost = (p["underage_cost"] * torch.relu(-x) + p["holding_cost"] * excess).sum(-1)
    return cost, excess if s.lost_demand else x


def general_period(port: Port, state, action, demand):
    """One period of a general network (SPEC §7); action = flows per destination kind."""
    s, p, tables = port.structure, port.p, port.tables
    flows = dict(zip(KINDS, action))
    inventories = dict(zip(KINDS, state))
    cost, store_post = store_period(s, p, inventories["store"][..., 0], demand)
    posts = {"store": store_post}
    for kind in ("warehouse", "echelon"):
        if kind in tables:
            shipped = sum(flows[g] @ inc for g, inc in tables[kind]["incidence"].items())
            posts[kind] = inventories[kind][..., 0] - shipped
            cost = cost + (p[f"{kind}_holding_cost"] * torch.relu(posts[kind])).sum(-1)
    out = []
    for kind in KINDS:
        inv = inventories[kind]
        if kind not in tables:
            out.append(inv)
            continue
        f = flows[kind]
        cost = cost + (p[f"{_PREFIX[kind]}procurement_cost"] * f).sum(-1)
        table = tables[kind]
        padded = torch.cat([f, f.new_zeros(f.shape[0], 1)], -1)[:, table["index"]]
        booked = (padded[..., None] * table["slot"]).sum(-2)  # [n, m, K]
        head = posts[kind][..., None] + (inv[..., 1:2] if inv.shape[-1] > 1 else 0.0)
        shifted = torch.cat([head, inv[..., 2:], inv.new_zeros(inv.shape[:-1] + (1,))], -1)
        out.append(shifted[..., :inv.shape[-1]] + booked)
    return tuple(out), cost


def advance(inv, post, order, slot):
    """[post + pipe_1, pipe_2, ..., 0] + order at index L-1 (slot is that one-hot)."""
    if inv.shape[-1] == 1:
        return post[..., None] + slot * order[..., None]
    head = (post + inv[..., 1])[..., None]
    zero = inv.new_zeros(inv.shape[:-1] + (1,))
    return torch.cat([head, inv[..., 2:], zero], -1) + slot * order[..., None]


def period(port: Port, state, action, demand):
    """One period (SPEC §2) for all scenarios. Returns (next state, cost [n])."""
    if port.tables is not None:
        return general_period(port, state, action, demand)
    s, p = port.structure, port.p
    store, warehouse, echelon = state
    stores, warehouses, echelons = action
    cost, store_post = store_period(s, p, store[..., 0], demand)
    store = advance(store, store_post, stores, port.store_slot)
    if s.n_warehouses:
        w_post = warehouse[..., 0] - stores.sum(-1, keepdim=True)
        cost = cost + (p["warehouse_holding_cost"] * torch.relu(w_post)
                       + p["warehouse_procurement_cost"] * warehouses).sum(-1)
        warehouse = advance(warehouse, w_post, warehouses, port.warehouse_slot)
    if s.n_echelons:
        downstream = torch.cat([echelons[:, 1:], warehouses.sum(-1, keepdim=True)], -1)
        e_post = echelon[..., 0] - downstream
        cost = cost + (p["echelon_holding_cost"] * torch.relu(e_post)).sum(-1)
        echelon = advance(echelon, e_post, echelons, port.echelon_slot)
    return (store, warehouse, echelon), cost


def rollout(port: Port, policy, step=None, ignore_periods: int = 0, per_period=False):
    """Rolls `policy` (state, port -> action) through every period.

    Returns the mean cost per store per period over periods >= ignore_periods, or the
    per-period costs [T, n] when `per_period`. `step` may replace the one-period
    function (policy + dynamics), e.g. by a torch.compile'd one.
    """
    step = step or (lambda st, d: period(port, st, policy(st, port), d))
    state = (port.store, port.warehouse, port.echelon)
    total, costs = 0.0, []
    for t in range(port.demand.shape[1]):
        state, cost = step(state, port.demand[:, t])
        if per_period:
            costs.append(cost)
        elif t >= ignore_periods:
            total = total + cost.sum()
    if per_period:
        return torch.stack(costs)
    n, periods = port.demand.shape[0], port.demand.shape[1] - ignore_periods
    return total / (n * periods * port.structure.n_stores)


def hdpo_step(port: Port, policy: nn.Module, optimizer, step=None):
    """One HDPO step: the hindsight cost over all periods, backward, Adam."""
    optimizer.zero_grad(set_to_none=True)
    loss = rollout(port, policy, step)
    loss.backward()
    optimizer.step()
    return loss.detach()
