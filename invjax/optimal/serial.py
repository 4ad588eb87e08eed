"""Exact optimum of a serial backlogged inventory system (Clark-Scarf recursion).

Stages are indexed upstream to downstream: supplier -> 0 -> 1 -> ... -> N-1 (the store).
The model is the one of our simulator: in period t every stage orders (stage j's order is
shipped from stage j-1's on-hand, stage 0 orders from an unlimited supplier) and an order
with lead time L is on hand at the start of period t+L; then store demand is met from the
store's on-hand (backlog allowed) and charged p*backlog + h_store*on_hand; then every
upstream stage is charged h_j on its on-hand left after shipping. Goods in transit are free.

Timing. Let y_j(t) be stage j's echelon inventory position after ordering in period t.
Demand of period t is met before that period's arrivals are usable, so the store's net
inventory in period t+L_store is y_store(t) - D[t, t+L_store] (L_store+1 periods of demand),
and the echelon stock that stage j-1 can release to stage j in period t is
y_{j-1}(t-L_{j-1}) - D[t-L_{j-1}, t-1] (L_{j-1} periods). This is the textbook
discrete-time Clark-Scarf model with lead times L_j and a one-period review at the store.

Accounting. With echelon holding costs e_j = h_j - h_{j-1} (h_{-1} = 0) and echelon stock
E_j = on-hand of stages k >= j (after shipping, store net of backlog) plus goods in transit
to stages k > j, one has sum_j e_j E_j = sum_k h_k on_hand_k + sum_{k>=1} h_{k-1} T_k, where
T_k is what is in transit to stage k when costs are charged (the shipments of the last L_k
periods, this one included). Hence

    simulator cost = sum_j e_j E_j + (p + h_store) * backlog - sum_{k>=1} h_{k-1} T_k,

and E[T_k] = L_k * E[D] under any stationary policy, so the simulator cost is the standard
Clark-Scarf cost minus the constant E[D] * sum_{k>=1} h_{k-1} L_k: same optimal levels.

References:
    Clark & Scarf (1960), Optimal policies for a multi-echelon inventory problem.
    Gallego & Zipkin (1999), Stock positioning and performance estimation in serial
    production-transfer systems. Shang & Song (2003), Newsvendor bounds and heuristic for
    optimal policies in serial supply chains.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import numpy as np
from scipy.stats import norm

__all__ = ["SerialSolution", "solve_serial", "serial_policy_cost"]


class SerialSolution(NamedTuple):
    """Result of :func:`solve_serial`.

    Attributes:
        cost: Optimal long-run average cost per period (simulator accounting).
        echelon_levels: [N] optimal echelon base-stock levels, stage 0 (upstream) first.
    """

    cost: float
    echelon_levels: np.ndarray


def _demand_pmf(mean, std, clip_at_zero, step, n_std=10.0):
    """Continuity-corrected lattice pmf of (clipped) N(mean, std) on multiples of ``step``.

    Returns (pmf, offset, exact_mean): pmf[i] is P(D ~ (offset + i) * step).
    """
    lo = mean - n_std * std
    if clip_at_zero:
        lo = max(lo, 0.0)
    k_lo = int(np.floor(lo / step))
    k_hi = int(np.ceil((mean + n_std * std) / step))
    if clip_at_zero and k_hi <= 0:
        return np.ones(1), 0, 0.0
    k = np.arange(k_lo, k_hi + 1)
    cdf = norm.cdf(((k + 0.5) * step - mean) / std)
    cdf[-1] = 1.0
    pmf = np.diff(np.concatenate([[0.0], cdf]))  # lowest cell takes the whole left tail
    if clip_at_zero:
        a = mean / std
        exact_mean = mean * norm.cdf(a) + std * norm.pdf(a)
    else:
        exact_mean = mean
    return pmf, k_lo, float(exact_mean)


def _convolve_power(pmf, n):
    """pmf of the sum of ``n`` i.i.d. copies (offset scales by ``n``)."""
    out = np.ones(1)
    for _ in range(n):
        out = np.convolve(out, pmf)
    return out


def _clark_scarf(pmf, offset, step, demand_mean, lead_times, holding_costs, underage_cost,
                 levels: Optional[Sequence[float]] = None):
    """Clark-Scarf recursion on a demand lattice.

    Args:
        pmf, offset, step: demand pmf on the lattice (offset + i) * step, i = 0..len-1.
        demand_mean: E[D] used for the in-transit constant.
        lead_times, holding_costs, underage_cost: the serial system (upstream first).
        levels: if given, evaluate this echelon base-stock policy (values are rounded to the
            lattice) instead of optimising.

    Returns:
        (cost, levels) with the simulator-accounting average cost per period.
    """
    L = np.asarray(lead_times, dtype=int)
    h = np.asarray(holding_costs, dtype=float)
    p = float(underage_cost)
    n = len(L)
    if n < 1 or h.shape != (n,) or np.any(L < 1):
        raise ValueError("need N >= 1 stages, matching holding costs and lead times >= 1")
    e = np.diff(h, prepend=0.0)
    m = len(pmf)
    # Lattice indices covering every position the recursion can visit.
    span = (L.sum() + 1) * (m - 1 + abs(offset)) + 10
    top = (L.sum() + 1) * (m - 1 + max(offset, 0)) + 10
    if levels is not None:
        given = np.rint(np.asarray(levels, dtype=float) / step).astype(int)
        top = max(top, int(np.abs(given).max()) + 10)
        span = max(span, int(np.abs(given).max()) + (L.sum() + 1) * (m + abs(offset)) + 10)
    # Store: G(y) = e_N y + (p + h_N) E[(y - D^{(L+1)})^-], as a lattice convolution.
    a = -span - (L.sum() + 1) * (m + abs(offset))
    x = np.arange(a, top + 1)
    f = (p + h[-1]) * np.maximum(-x * step, 0.0)
    out_levels = np.empty(n, dtype=int)
    for j in range(n - 1, -1, -1):
        nper = L[j] + 1 if j == n - 1 else L[j]
        q = _convolve_power(pmf, nper)
        qo = offset * nper
        # Pad above with the constant top value so the domain does not shrink at the top.
        f = np.concatenate([f, np.full(len(q), f[-1])])
        g = np.convolve(f, q, mode="valid")
        a = a + qo + len(q) - 1
        y = np.arange(a, a + len(g))
        g = g + e[j] * y * step
        if levels is None:
            i = int(np.argmin(g))
            if i == 0 or i == len(g) - 1:
                raise RuntimeError("optimum at the edge of the lattice")
        else:
            i = int(given[j] - a)
            if not 0 <= i < len(g):
                raise ValueError("level outside the lattice")
        out_levels[j] = y[i]
        if j > 0:  # induced penalty for the upstream stage: G(min(S, x))
            f = g.copy()
            f[i:] = g[i]
        else:
            standard_cost = g[i] - demand_mean * np.sum(e * (L + 1))
    transit = demand_mean * float(np.sum(h[:-1] * L[1:]))
    return float(standard_cost - transit), out_levels * step


def solve_serial(lead_times, holding_costs, underage_cost, demand_mean=5.0, demand_std=2.0,
                 clip_at_zero=True, *, step=0.05) -> SerialSolution:
    """Optimal echelon base-stock levels and average cost of a serial backlogged system.

    Args:
        lead_times: [N] integer lead times >= 1, stage 0 (most upstream) first, store last.
        holding_costs: [N] installation holding costs on on-hand (after shipping).
        underage_cost: Store backlog cost per unit per period.
        demand_mean, demand_std: Parameters of the i.i.d. normal store demand.
        clip_at_zero: Demand is max(N(mean, std), 0) if True.
        step: Demand lattice step (continuity-corrected discretisation).

    Returns:
        SerialSolution(cost, echelon_levels) under the simulator's cost accounting.

    References:
        Clark & Scarf (1960); Gallego & Zipkin (1999); Shang & Song (2003).
    """
    pmf, offset, mu = _demand_pmf(demand_mean, demand_std, clip_at_zero, step)
    cost, levels = _clark_scarf(pmf, offset, step, mu, lead_times, holding_costs, underage_cost)
    return SerialSolution(cost, levels)


def serial_policy_cost(levels, lead_times, holding_costs, underage_cost, demand_mean=5.0,
                       demand_std=2.0, clip_at_zero=True, *, step=0.05) -> float:
    """Average cost per period (simulator accounting) of a given echelon base-stock policy.

    Args:
        levels: [N] echelon base-stock levels, upstream first (rounded to the lattice).
        Other arguments as in :func:`solve_serial`.

    Returns:
        The long-run average cost per period.

    References:
        Clark & Scarf (1960); Gallego & Zipkin (1999).
    """
    pmf, offset, mu = _demand_pmf(demand_mean, demand_std, clip_at_zero, step)
    return _clark_scarf(pmf, offset, step, mu, lead_times, holding_costs, underage_cost,
                        levels=levels)[0]
