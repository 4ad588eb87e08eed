"""Exact lost-sales DP against Zipkin (2008), Table 1 (Poisson mean 5, h = 1).

References: Zipkin (2008), "Old and new methods for lost-sales inventory systems",
Operations Research 56(5).
"""

import itertools

import numpy as np
import pytest
from scipy import stats

from invjax.optimal.lost_sales import lost_sales_order, solve_lost_sales

# Optimal average cost per period, ZIPKIN[L][p].
ZIPKIN = {
    1: {4: 4.04, 9: 5.44, 19: 6.68, 39: 7.84},
    2: {4: 4.40, 9: 6.09, 19: 7.66, 39: 9.11},
    3: {4: 4.60, 9: 6.53, 19: 8.36, 39: 10.04},
    4: {4: 4.73, 9: 6.84, 19: 8.89, 39: 10.79},
}
FAST = [(L, p) for L in (1, 2) for p in ZIPKIN[L]]
SLOW = [(L, p) for L in (3, 4) for p in ZIPKIN[L]]


@pytest.mark.parametrize("lead_time,p", FAST)
def test_zipkin_table_fast(lead_time, p):
    sol = solve_lost_sales(lead_time, p)
    assert sol.cost == pytest.approx(ZIPKIN[lead_time][p], abs=0.006)
    assert sol.order.shape == (sol.max_state + 1,) * lead_time


@pytest.mark.slow
@pytest.mark.parametrize("lead_time,p", SLOW)
def test_zipkin_table_slow(lead_time, p):
    sol = solve_lost_sales(lead_time, p)
    assert sol.cost == pytest.approx(ZIPKIN[lead_time][p], abs=0.006)


def _brute_force(lead_time, p, h, mean, cap, iters=3000):
    """Naive relative value iteration over explicit states, orders and demands."""
    states = [s for s in itertools.product(range(cap + 1), repeat=lead_time) if sum(s) <= cap]
    index = {s: i for i, s in enumerate(states)}
    d = np.arange(60)
    pmf = stats.poisson.pmf(d, mean)
    V = np.zeros(len(states))
    for _ in range(iters):
        TV = np.empty_like(V)
        for i, s in enumerate(states):
            best = np.inf
            for q in range(cap - sum(s) + 1):
                nxt = [
                    index[(max(s[0] - k, 0) + (s[1] if lead_time > 1 else q),) + s[2:]
                          + ((q,) if lead_time > 1 else ())]
                    for k in d
                ]
                best = min(best, pmf @ V[nxt])
            x = s[0] - d
            TV[i] = pmf @ (p * np.maximum(-x, 0) + h * np.maximum(x, 0)) + best
        diff = TV - V
        V = TV - TV[0]
        if np.ptp(diff) < 1e-10:
            break
    return 0.5 * (diff.max() + diff.min())


@pytest.mark.parametrize("lead_time", [1, 2])
def test_matches_brute_force_small_cap(lead_time):
    # A binding cap (below S) exercises the truncation and the fast recursion.
    sol = solve_lost_sales(lead_time, 9.0, 1.0, 2.0, max_state=6, tol=1e-10)
    assert sol.cost == pytest.approx(_brute_force(lead_time, 9.0, 1.0, 2.0, 6), abs=1e-7)


def test_order_lookup_rounds_clips_and_zeroes_above_cap():
    sol = solve_lost_sales(2, 9)
    B = sol.max_state
    assert lost_sales_order(sol, np.array([0.4, 2.6])) == sol.order[0, 3]
    got = lost_sales_order(sol, np.array([[[-3.0, 1.0]], [[B + 10.0, 0.0]]]))
    assert got.shape == (2, 1)
    assert got[0, 0] == sol.order[0, 1] and got[1, 0] == sol.order[B, 0]
    assert lost_sales_order(sol, np.array([B, B])) == 0
    # No optimal order raises the inventory position above the cap.
    pos = np.indices(sol.order.shape).sum(0)
    assert np.all(pos[pos <= B] + sol.order[pos <= B] <= B)


def test_monte_carlo_matches_dp_cost():
    lead_time, p, h, mean = 2, 9.0, 1.0, 5.0
    sol = solve_lost_sales(lead_time, p, h, mean)
    rng = np.random.default_rng(0)
    chains, burn_in, periods, batches = 20, 200, 10_000, 10
    state = np.zeros((chains, lead_time))
    costs = np.empty((periods, chains))
    for t in range(burn_in + periods):
        q = lost_sales_order(sol, state)
        x = state[:, 0] - rng.poisson(mean, chains)
        if t >= burn_in:
            costs[t - burn_in] = p * np.maximum(-x, 0) + h * np.maximum(x, 0)
        state = np.column_stack([np.maximum(x, 0) + state[:, 1], q])
    batch_means = costs.reshape(batches, periods // batches, chains).mean(1).ravel()
    se = batch_means.std(ddof=1) / np.sqrt(batch_means.size)
    assert abs(batch_means.mean() - sol.cost) < 3 * se


@pytest.mark.parametrize("field,kwargs", [
    ("lead_time", dict(lead_time=0)),
    ("underage_cost", dict(underage_cost=-1.0)),
    ("holding_cost", dict(holding_cost=0.0)),
    ("mean", dict(mean=float("nan"))),
    ("tol", dict(tol=0.0)),
    ("max_iter", dict(max_iter=0)),
    ("max_state", dict(max_state=-1)),
])
def test_bad_input_names_the_field(field, kwargs):
    args = dict(lead_time=1, underage_cost=9.0) | kwargs
    with pytest.raises(ValueError, match=field):
        solve_lost_sales(**args)
