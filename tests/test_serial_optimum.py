"""Checks of invjax.optimal.serial against independent plain-NumPy models of the simulator.

The model (upstream -> store): every stage orders at once (shipped from the upstream stage's
on-hand, capped by it; stage 0 uncapped), store demand is backlogged and charged
p*backlog + h*on_hand, upstream stages pay h_j on their on-hand after shipping, and orders
are on hand L periods later. Goods in transit are free.
"""
import numpy as np
import pytest

from invjax.optimal.serial import _clark_scarf, serial_policy_cost, solve_serial

H4 = (0.1, 0.2, 0.5, 1.0)


def _initial_state(levels, lead_times, batch_shape):
    """On-hand so that every echelon position equals its level; empty pipelines."""
    S = np.asarray(levels, dtype=float)  # [..., N]
    inv = []
    for j, L in enumerate(lead_times):
        x = np.zeros(batch_shape + (max(L, 1),))
        x[..., 0] = S[..., j] - (S[..., j + 1] if j + 1 < len(lead_times) else 0.0)
        inv.append(x)
    return inv


def _step(inv, levels, lead_times, h, p, demand):
    """One period of the model under the echelon-stock policy; returns (new_inv, cost)."""
    N = len(inv)
    S = np.asarray(levels, dtype=float)
    totals = [x.sum(-1) for x in inv]
    orders = []
    for j in range(N):
        ip = sum(totals[j:])
        q = np.maximum(S[..., j] - ip, 0.0)
        if j > 0:
            q = np.minimum(q, inv[j - 1][..., 0])
        orders.append(q)
    x = inv[-1][..., 0] - demand
    cost = p * np.maximum(-x, 0.0) + h[-1] * np.maximum(x, 0.0)
    posts = []
    for j in range(N - 1):
        post = inv[j][..., 0] - orders[j + 1]
        cost = cost + h[j] * np.maximum(post, 0.0)
        posts.append(post)
    posts.append(x)
    new = []
    for j in range(N):
        K, L = inv[j].shape[-1], lead_times[j]
        y = np.zeros_like(inv[j])
        y[..., 0] = posts[j] + (inv[j][..., 1] if K > 1 else 0.0)
        y[..., 1:K - 1] = inv[j][..., 2:]
        y[..., L - 1] += orders[j]
        new.append(y)
    return new, cost


def _simulate(levels, lead_times, h, p, demand, burn_in):
    """Mean cost per period of each scenario; levels [C, N], demand [T, n] -> [C, n]."""
    levels = np.asarray(levels, dtype=float)[:, None, :]
    C, n = levels.shape[0], demand.shape[1]
    inv = _initial_state(levels, lead_times, (C, n))
    total = np.zeros((C, n))
    for t in range(demand.shape[0]):
        inv, cost = _step(inv, levels, lead_times, h, p, demand[t][None, :])
        if t >= burn_in:
            total += cost
    return total / (demand.shape[0] - burn_in)


def _normal_demand(n, T, seed):
    return np.maximum(np.random.default_rng(seed).normal(5.0, 2.0, size=(T, n)), 0.0)


def _exact_chain_cost(levels, lead_times, h, p, values, probs, periods=40):
    """Exact expected cost per period in steady state, by propagating the state distribution."""
    levels = np.asarray(levels, dtype=float)
    inv = _initial_state(levels, lead_times, (1,))
    w = np.ones(1)
    costs = []
    for _ in range(periods):
        m, V = len(w), len(values)
        rep = [np.repeat(x, V, axis=0) for x in inv]
        d = np.tile(np.asarray(values, dtype=float), m)
        inv, cost = _step(rep, levels, lead_times, h, p, d)
        w = np.repeat(w, V) * np.tile(probs, m)
        costs.append(float(w @ cost))
        flat = np.concatenate(inv, axis=1)
        uniq, idx = np.unique(flat, axis=0, return_inverse=True)
        w = np.bincount(idx.ravel(), weights=w)
        sizes = np.cumsum([0] + [x.shape[1] for x in inv])
        inv = [uniq[:, a:b] for a, b in zip(sizes[:-1], sizes[1:])]
    assert abs(costs[-1] - costs[-2]) < 1e-10, "chain not stationary"
    return costs[-1]


@pytest.mark.parametrize("lead_times,h,p", [((2, 1), (0.5, 1.0), 9.0),
                                            ((1, 2), (0.3, 1.0), 4.0),
                                            ((1, 2, 1), (0.1, 0.4, 1.0), 19.0)])
def test_recursion_matches_exact_markov_chain(lead_times, h, p):
    """Integer demand: exact chain costs equal the recursion; brute-force optimum agrees."""
    values, probs = np.arange(4), np.array([0.2, 0.3, 0.3, 0.2])
    mean = float(values @ probs)
    best, best_levels = _clark_scarf(probs, 0, 1.0, mean, lead_times, h, p)
    N = len(lead_times)
    # Cost of arbitrary policies, the optimum included.
    rng = np.random.default_rng(0)
    grid = [best_levels + rng.integers(-3, 4, size=N) for _ in range(6)] + [best_levels]
    for S in grid:
        S = np.maximum.accumulate(S[::-1])[::-1]  # keep echelon levels non-increasing
        exact = _exact_chain_cost(S, lead_times, h, p, values, probs)
        formula = _clark_scarf(probs, 0, 1.0, mean, lead_times, h, p, levels=S)[0]
        assert exact == pytest.approx(formula, abs=1e-9), S
    if N == 2:  # brute-force search over all (S0, S1) near the optimum
        costs = {(a, b): _exact_chain_cost((a, b), lead_times, h, p, values, probs)
                 for b in range(int(best_levels[1]) - 3, int(best_levels[1]) + 4)
                 for a in range(b, int(best_levels[0]) + 5)}
        assert min(costs.values()) == pytest.approx(best, abs=1e-9)


def test_two_stage_normal_brute_force_monte_carlo():
    """N=2, normal demand: CRN Monte Carlo grid search over integer (S0, S1)."""
    L, h, p = (1, 2), (0.5, 1.0), 9.0
    sol = solve_serial(L, h, p)
    grid = np.array([(a, b) for a in range(21, 30) for b in range(17, 25)], dtype=float)
    levels = np.vstack([grid, sol.echelon_levels[None]])
    per = _simulate(levels, L, h, p, _normal_demand(512, 1200, seed=1), burn_in=200)
    mc = per.mean(1)
    se = per.std(1, ddof=1) / np.sqrt(per.shape[1])
    assert mc[-1] == pytest.approx(sol.cost, abs=3 * se[-1])
    # No grid point beats the solver's levels by more than noise (paired differences).
    diff = per[:-1] - per[-1]
    se_d = diff.std(1, ddof=1) / np.sqrt(diff.shape[1])
    assert np.all(diff.mean(1) > -3 * se_d)
    # The MC arg-min is interior to the grid and within one unit of the solver's levels.
    arg = grid[np.argmin(mc[:-1])]
    assert np.all((arg > grid.min(0)) & (arg < grid.max(0))), arg
    assert np.all(np.abs(arg - sol.echelon_levels) <= 1.0), (arg, sol.echelon_levels)
    # And the recursion's cost of each grid policy matches its Monte Carlo cost.
    formula = np.array([serial_policy_cost(S, L, h, p) for S in grid])
    assert np.all(np.abs(formula - mc[:-1]) < 4 * se[:-1])


def test_four_stage_monte_carlo_and_local_optimality():
    """N=4, L=(2,4,3,2), p=9: simulated cost matches; +-1 perturbations do not help."""
    L, p = (2, 4, 3, 2), 9.0
    sol = solve_serial(L, H4, p)
    S = sol.echelon_levels
    pert = [S.copy()]
    for j in range(4):
        for d in (-1.0, 1.0):
            s = S.copy()
            s[j] += d
            pert.append(s)
    per = _simulate(np.array(pert), L, H4, p, _normal_demand(4096, 1000, seed=2), burn_in=300)
    se = per[0].std(ddof=1) / np.sqrt(per.shape[1])
    assert abs(per[0].mean() - sol.cost) < 3 * se, (per[0].mean(), sol.cost, se)
    diff = per[1:] - per[0]
    se_d = diff.std(1, ddof=1) / np.sqrt(diff.shape[1])
    assert np.all(diff.mean(1) > -3 * se_d), (diff.mean(1), se_d)
    formula = np.array([serial_policy_cost(s, L, H4, p) for s in pert[1:]])
    assert np.all(np.abs(formula - per[1:].mean(1)) < 4 * se_d + 4 * se)


@pytest.mark.slow
@pytest.mark.parametrize("store_lead_time", [1, 2, 3, 4])
@pytest.mark.parametrize("p", [4.0, 9.0, 19.0, 39.0])
def test_paper_grid_monte_carlo(store_lead_time, p):
    """All 16 paper instances: long simulation at the solver's levels matches its cost."""
    L = (2, 4, 3, store_lead_time)
    sol = solve_serial(L, H4, p)
    per = _simulate(sol.echelon_levels[None], L, H4, p,
                    _normal_demand(8192, 2000, seed=10 + store_lead_time), burn_in=300)[0]
    se = per.std(ddof=1) / np.sqrt(per.size)
    assert abs(per.mean() - sol.cost) < 3.5 * se


def test_discretisation_converged():
    """Halving the lattice step changes the cost by far less than 0.1%."""
    a = solve_serial((2, 4, 3, 2), H4, 9.0, step=0.05).cost
    b = solve_serial((2, 4, 3, 2), H4, 9.0, step=0.025).cost
    assert abs(a - b) < 1e-4 * abs(b)


@pytest.mark.parametrize("n_stages,seed", [(5, 21), (6, 22)])
def test_long_chain_setting_monte_carlo(n_stages, seed):
    """serial_chain (SPEC §7): the plain model at the levels invjax.optimal derives from
    the network matches the Clark-Scarf cost within Monte-Carlo error."""
    import invjax
    from invjax import optimal

    problem = invjax.settings.make("serial_chain", n_stages=n_stages)
    p = problem.params
    L = tuple(int(x) for x in np.concatenate(
        [p.echelon_lead_time, p.warehouse_lead_time, p.lead_time]))
    h = tuple(float(x) for x in np.concatenate(
        [p.echelon_holding_cost, p.warehouse_holding_cost, p.holding_cost]))
    assert len(L) == n_stages
    sol = solve_serial(L, h, 9.0)
    assert optimal.cost(problem) == sol.cost
    per = _simulate(sol.echelon_levels[None], L, h, 9.0,
                    _normal_demand(2048, 1000, seed=seed), burn_in=300)[0]
    se = per.std(ddof=1) / np.sqrt(per.size)
    assert abs(per.mean() - sol.cost) < 3.5 * se, (per.mean(), sol.cost, se)
    assert se < 0.003 * sol.cost  # tight enough to mean something
