"""Independent plain-NumPy reference of one simulator period (SPEC.md sections 1-2).

Written from the specification only, with explicit loops (clarity over speed, float64),
to cross-check the JAX simulator. Index 0 of every inventory vector is on-hand; slot k
becomes on-hand k periods from now; an order with lead time L goes to index L-1 after
the shift, so it is on hand at the start of period t+L.
"""
import numpy as np


def _f(a):
    return np.asarray(a, dtype=np.float64)


def _lead_times(lt, n_slots, what):
    """Integer lead times, checked against 1 <= L <= n_slots."""
    lt = np.asarray(lt)
    if lt.size and not np.all(lt == np.round(lt)):
        raise ValueError(f"{what} lead times must be integers")
    lt = np.round(lt).astype(np.int64)
    if lt.size and (lt.min() < 1 or lt.max() > n_slots):
        raise ValueError(f"{what} lead time must be in [1, {n_slots}], got {lt.min()}..{lt.max()}")
    return lt


def _advance(post, pipe, order, lead):
    """[post + pipe_1, pipe_2, ..., pipe_{K-1}, 0], then + order at index lead-1."""
    K = len(pipe) + 1
    new = np.zeros(K)
    new[0] = post + (pipe[0] if K > 1 else 0.0)
    for k in range(1, K - 1):
        new[k] = pipe[k]
    new[lead - 1] += order
    return new


def reference_step(store_inv, warehouse_inv, echelon_inv,
                   store_order, warehouse_order, echelon_order, demand,
                   store_lead_time, warehouse_lead_time, echelon_lead_time,
                   holding_cost, underage_cost, warehouse_holding_cost, warehouse_procurement_cost,
                   echelon_holding_cost, *, lost_demand: bool, maximize_profit: bool):
    """One period for a batch of n scenarios (shapes as in the module docs / SPEC §2).

    Returns (new_store_inv, new_warehouse_inv, new_echelon_inv,
             store_cost [n,S], warehouse_cost [n,W], echelon_cost [n,E]).
    """
    si, wi, ei = _f(store_inv), _f(warehouse_inv), _f(echelon_inv)
    so, wo, eo, d = _f(store_order), _f(warehouse_order), _f(echelon_order), _f(demand)
    h, p = _f(holding_cost), _f(underage_cost)
    hw, cw, he = _f(warehouse_holding_cost), _f(warehouse_procurement_cost), _f(echelon_holding_cost)
    n, S, Ks = si.shape
    _, W, Kw = wi.shape
    _, E, Ke = ei.shape
    if W > 1:
        raise ValueError("at most one warehouse")
    if E > 0 and W == 0:
        raise ValueError("echelons need a warehouse")
    sl = _lead_times(store_lead_time, Ks, "store")
    wl = _lead_times(warehouse_lead_time, Kw, "warehouse")
    el = _lead_times(echelon_lead_time, Ke, "echelon")

    new_s, new_w, new_e = np.zeros_like(si), np.zeros_like(wi), np.zeros_like(ei)
    cost_s, cost_w, cost_e = np.zeros((n, S)), np.zeros((n, W)), np.zeros((n, E))
    for i in range(n):
        # Step 2: stores meet demand.
        for s in range(S):
            on_hand = si[i, s, 0]
            x = on_hand - d[i, s]
            if maximize_profit:
                c = -p[i, s] * min(on_hand, d[i, s]) + h[i, s] * max(x, 0.0)
            else:
                c = p[i, s] * max(-x, 0.0) + h[i, s] * max(x, 0.0)
            cost_s[i, s] = c
            post = max(x, 0.0) if lost_demand else x
            new_s[i, s] = _advance(post, si[i, s, 1:], so[i, s], sl[i, s])
        # Step 3: warehouse ships this period's store orders.
        for w in range(W):
            shipped = sum(so[i, s] for s in range(S))
            post = wi[i, w, 0] - shipped
            cost_w[i, w] = hw[i, w] * max(post, 0.0) + cw[i, w] * wo[i, w]
            new_w[i, w] = _advance(post, wi[i, w, 1:], wo[i, w], wl[i, w])
        # Step 4: echelon k ships the order of the next downstream stage.
        for k in range(E):
            if k + 1 < E:
                downstream = eo[i, k + 1]
            else:
                downstream = sum(wo[i, w] for w in range(W))
            post = ei[i, k, 0] - downstream
            cost_e[i, k] = he[i, k] * max(post, 0.0)
            new_e[i, k] = _advance(post, ei[i, k, 1:], eo[i, k], el[i, k])
    return new_s, new_w, new_e, cost_s, cost_w, cost_e


def reference_rollout(policy_fn, store_inv, warehouse_inv, echelon_inv, demand,
                      store_lead_time, warehouse_lead_time, echelon_lead_time,
                      holding_cost, underage_cost, warehouse_holding_cost, warehouse_procurement_cost,
                      echelon_holding_cost, *, lost_demand: bool, maximize_profit: bool):
    """Roll policy_fn(store_inv, warehouse_inv, echelon_inv, t) -> (store_order,
    warehouse_order, echelon_order) through demand [n, T, S] from the given initial state.

    Returns (total_cost [n,T], store_cost [n,T,S], warehouse_cost [n,T,W], echelon_cost [n,T,E]).
    """
    d = _f(demand)
    n, T, S = d.shape
    si, wi, ei = _f(store_inv), _f(warehouse_inv), _f(echelon_inv)
    W, E = wi.shape[1], ei.shape[1]
    cs, cw, ce = np.zeros((n, T, S)), np.zeros((n, T, W)), np.zeros((n, T, E))
    for t in range(T):
        so, wo, eo = policy_fn(si, wi, ei, t)
        si, wi, ei, cs[:, t], cw[:, t], ce[:, t] = reference_step(
            si, wi, ei, so, wo, eo, d[:, t],
            store_lead_time, warehouse_lead_time, echelon_lead_time,
            holding_cost, underage_cost, warehouse_holding_cost, warehouse_procurement_cost,
            echelon_holding_cost, lost_demand=lost_demand, maximize_profit=maximize_profit)
    total = cs.sum(axis=2) + cw.sum(axis=2) + ce.sum(axis=2)
    return total, cs, cw, ce


def reference_reported_cost(period_cost, n_stores, ignore_periods):
    """Sum of costs over periods t >= ignore_periods / (n * (T - ignore_periods) * n_stores)."""
    c = _f(period_cost)
    n, T = c.shape
    return float(c[:, ignore_periods:].sum() / (n * (T - ignore_periods) * n_stores))


def _one(a):
    return np.asarray(a, dtype=np.float64)[None]


if __name__ == "__main__":
    none = dict(warehouse_inv=np.zeros((1, 0, 1)), echelon_inv=np.zeros((1, 0, 1)),
                warehouse_order=np.zeros((1, 0)), echelon_order=np.zeros((1, 0)),
                warehouse_lead_time=np.ones((1, 0), int), echelon_lead_time=np.ones((1, 0), int),
                warehouse_holding_cost=np.zeros((1, 0)), warehouse_procurement_cost=np.zeros((1, 0)),
                echelon_holding_cost=np.zeros((1, 0)))
    # 1) Backlogged, one store, K=3: state [3,4,1], order 2, demand 5, h=1, p=9 -> cost 18.
    #    Shifted: [-2+4, 1, 0]; L=2 puts the order at index 1 -> [2,3,0]; L=3 -> [2,1,2].
    for L, want in [(2, [2, 3, 0]), (3, [2, 1, 2])]:
        s, _, _, c, _, _ = reference_step(
            store_inv=_one([[3, 4, 1]]), store_order=_one([2]), demand=_one([5]),
            store_lead_time=np.array([[L]]), holding_cost=_one([1]), underage_cost=_one([9]),
            lost_demand=False, maximize_profit=False, **none)
        assert np.allclose(c, 18) and np.allclose(s[0, 0], want), (L, c, s)
    # 2) Lost demand, profit mode, two stores, K=2, h=1, p=9, demand 5, order 2.
    #    A: [7,4], L=1: x=2, cost -9*5+1*2=-43, post 2 -> [2+4, 0] + 2 at 0 = [8, 0].
    #    B: [3,4], L=2: x=-2, cost -9*3=-27, post 0 -> [0+4, 0] + 2 at 1 = [4, 2].
    s, _, _, c, _, _ = reference_step(
        store_inv=_one([[7, 4], [3, 4]]), store_order=_one([2, 2]), demand=_one([5, 5]),
        store_lead_time=np.array([[1, 2]]), holding_cost=_one([1, 1]), underage_cost=_one([9, 9]),
        lost_demand=True, maximize_profit=True, **none)
    assert np.allclose(c, [[-43, -27]]) and np.allclose(s[0], [[8, 0], [4, 2]]), (c, s)
    # 3) Serial: echelon_0 -> echelon_1 -> warehouse -> store, backlogged.
    #    Store [3,4,1,0] L=2 o=2 D=5: cost 18, -> [2,3,0,0].
    #    Warehouse [8,1,0] L=3 o=6 h=.5 c=.1: post 8-2=6, cost 3+0.6, -> [7,0,6].
    #    Echelon_1 [6,0] L=1 o=5 h=.2: post 6-6=0, cost 0, -> [5,0].
    #    Echelon_0 [10,3] L=2 o=4 h=.1: post 10-5=5, cost .5, -> [8,4].
    out = reference_step(
        _one([[3, 4, 1, 0]]), _one([[8, 1, 0]]), _one([[10, 3], [6, 0]]),
        _one([2]), _one([6]), _one([4, 5]), _one([5]),
        np.array([[2]]), np.array([[3]]), np.array([[2, 1]]),
        _one([1]), _one([9]), _one([0.5]), _one([0.1]), _one([0.1, 0.2]),
        lost_demand=False, maximize_profit=False)
    s, w, e, cs, cw, ce = out
    assert np.allclose(s[0, 0], [2, 3, 0, 0]) and np.allclose(w[0, 0], [7, 0, 6])
    assert np.allclose(e[0], [[8, 4], [5, 0]])
    assert np.allclose(cs, 18) and np.allclose(cw, 3.6) and np.allclose(ce, [[0.5, 0.0]])
    # 4) Single-slot store (K=1, L=1): [3], order 2, demand 1 -> [2+2] = [4], cost 2*h.
    s, _, _, c, _, _ = reference_step(
        store_inv=_one([[3]]), store_order=_one([2]), demand=_one([1]),
        store_lead_time=np.array([[1]]), holding_cost=_one([1]), underage_cost=_one([9]),
        lost_demand=True, maximize_profit=False, **none)
    assert np.allclose(s, 4) and np.allclose(c, 2)
    # 5) Bad lead times raise.
    for bad in (0, 4):
        try:
            reference_step(store_inv=_one([[3, 4, 1]]), store_order=_one([2]), demand=_one([5]),
                           store_lead_time=np.array([[bad]]), holding_cost=_one([1]),
                           underage_cost=_one([9]), lost_demand=False, maximize_profit=False, **none)
        except ValueError:
            pass
        else:
            raise AssertionError(f"lead time {bad} accepted")
    # 6) Rollout: base-stock 10 on a lost-demand store with L=1, demand 5 every period.
    def policy(si, wi, ei, t):
        return np.maximum(10 - si.sum(axis=2), 0), np.zeros((1, 0)), np.zeros((1, 0))
    tot, cs, cw, ce = reference_rollout(
        policy, store_inv=_one([[0, 0]]), demand=np.full((1, 4, 1), 5.0),
        store_lead_time=np.array([[1]]), holding_cost=_one([1]), underage_cost=_one([9]),
        lost_demand=True, maximize_profit=False,
        **{k: v for k, v in none.items() if not k.endswith("order")})
    # t0: [0,0] order 10, cost 45 -> [10,0]; t1: order 0, cost 5 -> [5,0];
    # t2, t3: order 5, on hand 5, cost 0 -> [5,0].
    assert np.allclose(tot, [[45, 5, 0, 0]]) and np.allclose(cs[..., 0], tot), tot
    assert np.isclose(reference_reported_cost(tot, 1, 1), 5 / 3)
    print("reference_sim self-check passed")
