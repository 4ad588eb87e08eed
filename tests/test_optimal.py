"""Known optima and bounds (SPEC §6) against simulation and direct evaluation."""

from __future__ import annotations

import math
from statistics import NormalDist

import jax
import numpy as np
import pytest

import invjax
from invjax import optimal

Z99 = NormalDist().inv_cdf(0.995)


def per_scenario_ci(res, ignore_periods, n_stores=1):
    """Mean cost per store and period, and its 99% CI, from independent per-scenario
    means (periods within a scenario are correlated; scenarios are not)."""
    per_scenario = np.asarray(res.cost[:, ignore_periods:], np.float64).mean(axis=1)
    per_scenario /= n_stores
    mean = per_scenario.mean()
    half = Z99 * per_scenario.std(ddof=1) / math.sqrt(per_scenario.size)
    return mean, half


def test_one_store_backlogged_optimum_is_attained_in_simulation():
    problem = invjax.settings.make("one_store_backlogged", lead_time=4, underage_cost=9.0)
    target = optimal.cost(problem)
    # Literature values (SPEC §6): L=4, p=9, h=1, N(5, 1.6).
    assert target == pytest.approx(6.2788, abs=5e-4)
    policy, params = optimal.policy(problem)
    level = float(jax.nn.softplus(params["level"])[0])
    assert level == pytest.approx(29.585, abs=2e-3)

    n, periods, warm_up = 4096, 1000, 200
    sc = invjax.scenarios.sample(problem, jax.random.key(2024), n, periods, warm_up)
    res = invjax.simulate(problem, policy, params, sc, record=True)
    mean, half = per_scenario_ci(res, warm_up)
    assert float(res.mean_cost) == pytest.approx(mean, rel=1e-5)
    assert abs(mean - target) <= half, (
        f"simulated {mean:.5f}, 99% CI [{mean - half:.5f}, {mean + half:.5f}] "
        f"({n} scenarios x {periods - warm_up} periods) excludes optimal.cost {target:.5f}")
    # And the CI is tight enough to mean something (< 0.5% of the cost).
    assert half < 0.005 * target, half


@pytest.mark.slow
@pytest.mark.parametrize("lead_time,underage_cost", [(1, 4.0), (10, 19.0)])
def test_one_store_backlogged_other_cells(lead_time, underage_cost):
    problem = invjax.settings.make("one_store_backlogged", lead_time=lead_time,
                                   underage_cost=underage_cost)
    policy, params = optimal.policy(problem)
    sc = invjax.scenarios.sample(problem, jax.random.key(lead_time), 4096, 800, 200)
    mean, half = per_scenario_ci(invjax.simulate(problem, policy, params, sc), 200)
    target = optimal.cost(problem)
    assert abs(mean - target) <= half, (mean, half, target)


def direct_transshipment_bound(problem):
    """SPEC §6 from the covariance matrix, with statistics.NormalDist (no scipy)."""
    p = jax.tree.map(lambda x: np.asarray(x, np.float64), problem.params)
    h, b = p.holding_cost[0], p.underage_cost[0]
    lead, centre = p.lead_time[0], p.warehouse_lead_time[0]
    sigma = p.demand_std
    n = sigma.size
    rho = problem.structure.demand.correlation
    corr = np.full((n, n), rho) + (1 - rho) * np.eye(n)
    total_var = sigma @ corr @ sigma  # Var(sum_i D_i)
    z = NormalDist().inv_cdf(b / (b + h))
    phi = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    return (h + b) * phi * math.sqrt(sigma.sum() ** 2 * (lead + 1) + total_var * centre) / n


@pytest.mark.parametrize("overrides", [
    {"n_stores": 5, "correlation": 0.5, "underage_cost": 9.0, "lead_time": 2},
    {"n_stores": 3, "correlation": 0.0, "underage_cost": 4.0, "lead_time": 6},
])
def test_transshipment_bound_formula(overrides):
    problem = invjax.settings.make("transshipment", **overrides)
    assert optimal.cost(problem) == pytest.approx(direct_transshipment_bound(problem),
                                                  rel=1e-6)


def test_transshipment_heuristic_simulates_above_the_bound():
    problem = invjax.settings.make("transshipment", n_stores=5, correlation=0.5,
                                   underage_cost=9.0, lead_time=2)
    bound = optimal.cost(problem)
    p = jax.tree.map(lambda x: np.asarray(x, np.float64), problem.params)
    z = NormalDist().inv_cdf(9.0 / 10.0)
    lead, centre = p.lead_time[0], p.warehouse_lead_time[0]
    mu, sigma = p.demand_mean, p.demand_std
    store = mu * (lead + 1) + z * sigma * math.sqrt(lead + 1)
    corr = 0.5 + 0.5 * np.eye(mu.size)
    system = store.sum() + mu.sum() * centre + z * math.sqrt(centre * sigma @ corr @ sigma)
    policy = invjax.policies.base_stock_allocation(problem)
    params = policy.params_for(store, system)
    sc = invjax.scenarios.sample(problem, jax.random.key(5), 1024, 400, 150)
    res = invjax.simulate(problem, policy, params, sc, record=True)
    mean, half = per_scenario_ci(res, 150, problem.structure.n_stores)
    assert float(res.mean_cost) == pytest.approx(mean, rel=1e-5)
    assert mean - half > bound, (
        f"base_stock_allocation {mean:.4f} +- {half:.4f} is not above the bound {bound:.4f}")
    assert mean < 1.5 * bound, f"levels not reasonable: {mean:.4f} vs bound {bound:.4f}"


def test_no_optimum_for_one_warehouse():
    problem = invjax.settings.make("one_warehouse", n_stores=3)
    with pytest.raises(ValueError, match="one_warehouse"):
        optimal.cost(problem)
    with pytest.raises(ValueError, match="one_warehouse"):
        optimal.policy(problem)


def test_transshipment_has_a_bound_but_no_optimal_policy():
    with pytest.raises(ValueError, match="bound"):
        optimal.policy(invjax.settings.make("transshipment"))


def test_optimum_is_for_cost_mode_only():
    problem = invjax.settings.make("one_warehouse", n_stores=3, maximize_profit=True)
    with pytest.raises(ValueError):
        optimal.cost(problem)


def test_known_reports_method_and_bound():
    backlogged = invjax.settings.make("one_store_backlogged")
    assert optimal.known(backlogged) == optimal.Known(
        optimal.cost(backlogged), False, optimal.BASE_STOCK)
    bound = optimal.known(invjax.settings.make("transshipment"))
    assert bound.is_bound and bound.method == optimal.TRANSSHIPMENT_BOUND
    lost = optimal.known(invjax.settings.make("one_store_lost", lead_time=3))
    assert lost.method == optimal.LOST_SALES_DP and lost.cost == pytest.approx(6.53, abs=0.01)
    assert optimal.known(invjax.settings.make("serial")).method == optimal.CLARK_SCARF
    for name, overrides in [("one_warehouse", {}), ("many_warehouses", {}),
                            ("one_warehouse", {"maximize_profit": True})]:
        assert optimal.known(invjax.settings.make(name, **overrides)) is None


def test_known_needs_zero_edge_costs():
    problem = invjax.settings.make("serial")
    costly = problem.replace(params=problem.params.replace(
        procurement_cost=problem.params.procurement_cost + 0.1))
    assert optimal.known(costly) is None
    with pytest.raises(ValueError, match="edge"):
        optimal.cost(costly)


def test_five_stage_chain_optimum_is_attained_in_simulation():
    """invjax's own rollout of the Clark-Scarf echelon-stock policy on serial_chain."""
    problem = invjax.settings.make("serial_chain", n_stages=5)
    policy, params = optimal.policy(problem)
    n, periods, warm_up = 1024, 600, 200
    sc = invjax.scenarios.sample(problem, jax.random.key(77), n, periods, warm_up)
    mean, half = per_scenario_ci(invjax.simulate(problem, policy, params, sc, record=True),
                                 warm_up)
    target = optimal.cost(problem)
    assert abs(mean - target) <= half, (mean, half, target)
    assert half < 0.01 * target, half


def test_clark_scarf_needs_echelon_holding_costs_of_one_sign():
    problem = invjax.settings.make("serial", upstream_holding_costs=[0.1, 0.9, 0.5])
    assert optimal.known(problem) is None
    with pytest.raises(ValueError, match="Clark-Scarf"):
        optimal.cost(problem)
