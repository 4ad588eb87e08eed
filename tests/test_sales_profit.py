"""Profit mode against a NumPy reference for one period, and the just-in-time oracle as
an upper bound of admissible policies, equal to the closed form sum of p x demand
(SPEC §2, §10)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from invjax.dynamics import Action
from invjax.sales import compare, forecast
from invjax.sales.history import SalesHistory
from invjax.sales.policies import DataDrivenNet, JustInTimeOracle, Newsvendor
from invjax.sales.problem import WAREHOUSE_HOLDING_COST, make_problem_for
from invjax.sales.rollout import rollout
from invjax.sales.windows import (Window, Windows, make_split, series_costs, series_scale,
                                  store_groups)


@dataclasses.dataclass(frozen=True)
class FixedOrders:
    """Orders given as parameters: {"stores": [n, S], "warehouses": [n, 1] or None}."""

    def init(self, key):
        return {}

    def apply(self, params, obs):
        return Action(stores=params["stores"], warehouses=params.get("warehouses"))


def _history(rng, periods, n_series):
    sales = rng.poisson(rng.uniform(1, 30, n_series), (periods, n_series)).astype(float)
    return SalesHistory(np.arange(periods), tuple(f"s{i}" for i in range(n_series)), sales,
                        np.zeros(n_series, int), {})


@pytest.mark.parametrize("warehouses, per", [(0, 1), (1, 3), (2, 2)])
def test_one_period_profit_matches_numpy(warehouses, per):
    rng = np.random.default_rng(1)
    stores = per * max(warehouses, 1)
    h = _history(rng, 5, 12)
    costs = series_costs(h, seed=2)
    groups = store_groups(12, stores, repeats=2, seed=0)
    split = make_split(h, Window(4, 5), groups, costs, series_scale(h, Window(0, 4)),
                       warehouses=warehouses, warmup=0)
    n, slots = groups.shape[0], int(costs.lead_time.max())
    inventory = rng.uniform(0, 30, (n, stores, slots)).astype(np.float32)
    w_inventory = rng.uniform(0, 80, split.scenarios.warehouse_inventory.shape)
    w_inventory = w_inventory.astype(np.float32)
    sc = split.scenarios.replace(store_inventory=jnp.asarray(inventory),
                                 warehouse_inventory=jnp.asarray(w_inventory))
    split = split.replace(scenarios=sc)
    orders = rng.uniform(0, 10, (n, stores)).astype(np.float32)
    params = {"stores": jnp.asarray(orders)}
    if warehouses:
        params["warehouses"] = jnp.asarray(rng.uniform(0, 10, (n, warehouses)), jnp.float32)
    problem = make_problem_for(stores, slots, warehouses)
    result = rollout(problem, FixedOrders(), params, split)

    # NumPy reference (SPEC §2, profit mode, lost demand), one scenario at a time;
    # warehouse j serves stores j * per .. (j + 1) * per - 1
    demand = np.asarray(sc.demand)[:, 0]
    p, hc = costs.margin[groups], costs.holding_cost[groups]
    per_store = np.zeros((n, stores))
    total = 0.0
    for i in range(n):
        for j in range(stores):
            on_hand = inventory[i, j, 0]
            per_store[i, j] = p[i, j] * min(on_hand, demand[i, j]) - hc[i, j] * max(
                on_hand - demand[i, j], 0.0)
        total += per_store[i].sum()
        for w in range(warehouses):
            mine = slice(w * per, (w + 1) * per)
            left = w_inventory[i, w, 0] - orders[i, mine].sum()
            cost = WAREHOUSE_HOLDING_COST * max(left, 0.0)
            total -= cost
            per_store[i, mine] -= cost / per
    np.testing.assert_allclose(result.mean_profit, total / (n * stores), rtol=1e-5)
    np.testing.assert_allclose(result.series_profit, per_store, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("n_stores, warehouses", [(1, 0), (3, 1), (2, 2)])
def test_oracle_is_an_upper_bound_and_sells_everything(n_stores, warehouses):
    rng = np.random.default_rng(4)
    h = _history(rng, 80, 12)
    windows = Windows(Window(0, 50), Window(30, 65), Window(40, 80))
    setup = compare.prepare(h, n_stores, warehouses, windows=windows, repeats=2, seed=1)
    test = setup.splits["test"]
    max_lead = int(setup.costs.lead_time.max())
    oracle = rollout(setup.problem, JustInTimeOracle(max_lead, warehouses), {}, test)
    # closed form: every unit of reported demand sold at its margin, nothing left over
    demand = np.asarray(test.scenarios.demand)[:, test.scenarios.ignore_periods:]
    margin = np.asarray(test.scenarios.params.underage_cost)
    expected = (demand * margin[:, None]).sum() / demand.size
    np.testing.assert_allclose(oracle.mean_profit, expected, rtol=1e-5)

    # admissible whatever the forecaster's weights: an untrained one will do
    horizon = compare.max_horizon(setup)
    width = test.scenarios.past_demand.shape[-1] + test.calendar.shape[-1] + horizon
    forecast_params = jax.jit(forecast.QuantileMLP().init)(jax.random.key(0),
                                                          jnp.zeros((1, width)))
    admissible = []
    for q_logit in (-2.0, 0.0, 2.0):
        policy = Newsvendor("fixed_quantile", horizon, warehouses)
        params = {"forecast": forecast_params, "q_logit": jnp.asarray(q_logit)}
        admissible.append((policy, params))
    for seed in range(3):
        net = DataDrivenNet(max_lead, warehouses)
        admissible.append((net, net.init(jax.random.key(seed))))
    for policy, params in admissible:
        profit = rollout(setup.problem, policy, params, test)
        assert float(profit.mean_profit) <= float(oracle.mean_profit) + 1e-4
        if not warehouses:  # and series by series
            assert np.all(np.asarray(profit.series_profit)
                          <= np.asarray(oracle.series_profit) + 1e-3)


def test_quantile_interpolation():
    qs = jnp.asarray(np.arange(len(forecast.LEVELS), dtype=np.float32) * 2.0)
    np.testing.assert_allclose(forecast.quantile(qs, jnp.asarray(0.05)), 0.0)
    np.testing.assert_allclose(forecast.quantile(qs, jnp.asarray(0.125)), 3.0, rtol=1e-5)
    np.testing.assert_allclose(forecast.quantile(qs, jnp.asarray(0.99)), 36.0)
