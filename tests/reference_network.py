"""Independent plain-Python reference of one period on any network (SPEC §7).

Written from the specification only: dictionaries keyed by location name and by
(source, destination) edge, explicit loops, float64. Nothing here reads invjax's index
tables; the bridge in `network_inputs` only converts invjax's arrays (whose layout is
documented: locations in order per kind, edges grouped by destination kind) into the
dictionaries.

One period (SPEC §7): (1) a flow on every edge is given; (2) every store meets its
demand (cost p * shortfall + h * excess, or -p * sold + h * excess in profit mode; lost
demand keeps max(x, 0), backlogged keeps x); (3) every other location ships the sum of
its outbound flows: post = on_hand - shipped, cost h * max(post, 0); (4) every edge
costs c_e * flow_e (booked at its destination here); (5) every vector shifts left
(post + pipe_1 becomes on-hand) and each inbound flow is added at index L_e - 1.
"""

from __future__ import annotations

import numpy as np

SUPPLIER = "supplier"


def network_period(locations, edges, inventory, flow, lead_time, edge_cost, holding,
                   underage, demand, *, lost_demand, maximize_profit):
    """One period of one scenario.

    Args:
      locations: [(name, kind)], kind in {"store", "warehouse", "echelon"}.
      edges: [(source, destination)]; source may be "supplier".
      inventory: {name: list of floats [on_hand, pipe_1, ...]}.
      flow, lead_time, edge_cost: {(source, destination): value}.
      holding: {name: h}; underage: {store: p}; demand: {store: d}.

    Returns:
      (new inventory {name: np.ndarray}, cost {name: float}).
    """
    cost = {}
    post = {}
    for name, kind in locations:
        on_hand = float(inventory[name][0])
        if kind == "store":
            d = float(demand[name])
            x = on_hand - d
            if maximize_profit:
                c = -underage[name] * min(on_hand, d) + holding[name] * max(x, 0.0)
            else:
                c = underage[name] * max(-x, 0.0) + holding[name] * max(x, 0.0)
            post[name] = max(x, 0.0) if lost_demand else x
        else:
            out = 0.0
            for (src, dst) in edges:
                if src == name:
                    out += float(flow[(src, dst)])
            post[name] = on_hand - out
            c = holding[name] * max(post[name], 0.0)
        cost[name] = c
    for (src, dst) in edges:
        cost[dst] += float(edge_cost[(src, dst)]) * float(flow[(src, dst)])
    new = {}
    for name, _ in locations:
        vec = [float(v) for v in inventory[name]]
        width = len(vec)
        shifted = [0.0] * width
        shifted[0] = post[name] + (vec[1] if width > 1 else 0.0)
        for k in range(1, width - 1):
            shifted[k] = vec[k + 1]
        for (src, dst) in edges:
            if dst == name:
                lead = int(lead_time[(src, dst)])
                if not 1 <= lead <= width:
                    raise ValueError(f"edge {src}->{dst}: lead time {lead} outside 1..{width}")
                shifted[lead - 1] += float(flow[(src, dst)])
        new[name] = np.asarray(shifted)
    return new, cost


# ---------------------------------------------------------------------------------------
# Bridge from invjax's documented array layout to the dictionaries above.

KINDS = ("store", "warehouse", "echelon")
PREFIX = {"store": "", "warehouse": "warehouse_", "echelon": "echelon_"}
FLOWS = {"store": "stores", "warehouse": "warehouses", "echelon": "echelons"}


def network_lists(network):
    """(locations [(name, kind)] in kind order, {kind: [(src, dst)] into that kind})."""
    locations = [(loc.name, kind) for kind in KINDS for loc in network.locations
                 if loc.kind == kind]
    groups = {kind: [(e.source, e.destination) for e in network.edges
                     if dict(locations)[e.destination] == kind] for kind in KINDS}
    return locations, groups


def reference_network_step(structure, inventories, flows, demand, params):
    """One period for a batch: inventories {kind: [n, m, K]}, flows {kind: [n, edges]},
    demand [n, S], params a per-scenario invjax `Params` (leaves [n, ...]).

    Returns ({kind: [n, m, K] new inventories}, {kind: [n, m] costs}).
    """
    locations, groups = network_lists(structure.network)
    p = {f: np.asarray(getattr(params, f), np.float64) for f in params.__dataclass_fields__}
    names = {kind: [n for n, k in locations if k == kind] for kind in KINDS}
    n = demand.shape[0]
    new = {k: np.zeros_like(np.asarray(inventories[k], np.float64)) for k in KINDS}
    costs = {k: np.zeros((n, len(names[k]))) for k in KINDS}
    edges = [e for k in KINDS for e in groups[k]]
    for i in range(n):
        inv, holding, flow, lead, ecost = {}, {}, {}, {}, {}
        for kind in KINDS:
            for j, name in enumerate(names[kind]):
                inv[name] = np.asarray(inventories[kind], np.float64)[i, j]
                holding[name] = p[f"{PREFIX[kind]}holding_cost"][i, j]
            for j, e in enumerate(groups[kind]):
                flow[e] = float(np.asarray(flows[kind], np.float64)[i, j])
                lead[e] = int(p[f"{PREFIX[kind]}lead_time"][i, j])
                ecost[e] = p[f"{PREFIX[kind]}procurement_cost"][i, j]
        under = {name: p["underage_cost"][i, j] for j, name in enumerate(names["store"])}
        dem = {name: float(demand[i, j]) for j, name in enumerate(names["store"])}
        out, cost = network_period(
            locations, edges, inv, flow, lead, ecost, holding, under, dem,
            lost_demand=structure.lost_demand, maximize_profit=structure.maximize_profit)
        for kind in KINDS:
            for j, name in enumerate(names[kind]):
                new[kind][i, j] = out[name]
                costs[kind][i, j] = cost[name]
    return new, costs


if __name__ == "__main__":
    # Two warehouses, three stores; W0 -> s0 (L=2), W0 -> s1 (L=1), W1 -> s1 (L=3),
    # W1 -> s2 (L=1); supplier -> W0 (L=1, cost 0.5), supplier -> W1 (L=2, cost 1.5).
    locations = [("s0", "store"), ("s1", "store"), ("s2", "store"),
                 ("W0", "warehouse"), ("W1", "warehouse")]
    edges = [("W0", "s0"), ("W0", "s1"), ("W1", "s1"), ("W1", "s2"),
             (SUPPLIER, "W0"), (SUPPLIER, "W1")]
    inventory = {"s0": [4, 1, 0], "s1": [0, 2, 5], "s2": [6, 0, 0], "W0": [10, 3],
                 "W1": [7, 1]}
    flow = {("W0", "s0"): 3, ("W0", "s1"): 2, ("W1", "s1"): 4, ("W1", "s2"): 1,
            (SUPPLIER, "W0"): 8, (SUPPLIER, "W1"): 6}
    lead = {("W0", "s0"): 2, ("W0", "s1"): 1, ("W1", "s1"): 3, ("W1", "s2"): 1,
            (SUPPLIER, "W0"): 1, (SUPPLIER, "W1"): 2}
    ecost = {e: 0.0 for e in edges} | {(SUPPLIER, "W0"): 0.5, (SUPPLIER, "W1"): 1.5}
    holding = {"s0": 1, "s1": 1, "s2": 2, "W0": 0.3, "W1": 0.4}
    new, cost = network_period(locations, edges, inventory, flow, lead, ecost, holding,
                               {"s0": 9, "s1": 9, "s2": 9}, {"s0": 5, "s1": 1, "s2": 2},
                               lost_demand=True, maximize_profit=False)
    # s0: x = -1, cost 9, post 0 -> [0 + 1, 0, 0] + 3 at index 1 = [1, 3, 0].
    # s1: x = -1, cost 9, post 0 -> [2, 5, 0] + 2 at 0 + 4 at 2 = [4, 5, 4].
    # s2: x = 4, cost 8, post 4 -> [4, 0, 0] + 1 at 0 = [5, 0, 0].
    # W0: post 10 - 5 = 5, cost 1.5 + 0.5 * 8 = 5.5 -> [5 + 3] + 8 at 0 = [16, 0].
    # W1: post 7 - 5 = 2, cost 0.8 + 1.5 * 6 = 9.8 -> [2 + 1, 0] + 6 at 1 = [3, 6].
    want = {"s0": [1, 3, 0], "s1": [4, 5, 4], "s2": [5, 0, 0], "W0": [16, 0], "W1": [3, 6]}
    for name, vec in want.items():
        assert np.allclose(new[name], vec), (name, new[name], vec)
    assert np.allclose([cost[k] for k in ("s0", "s1", "s2", "W0", "W1")],
                       [9, 9, 8, 5.5, 9.8]), cost
    print("reference_network self-check passed")
