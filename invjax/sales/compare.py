"""The real-data workflow in one call: windows -> scenarios -> forecaster -> train the
data-driven net and the newsvendor family -> test profit of each, as % of the oracle.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 7; SPEC §10.
"""

from __future__ import annotations

import time
from typing import NamedTuple, Optional

import jax
import numpy as np

from invjax.problem import Problem
from invjax.sales import forecast
from invjax.sales.history import SalesHistory
from invjax.sales.policies import DataDrivenNet, JustInTimeOracle, Newsvendor
from invjax.sales.problem import WAREHOUSE_LEAD_TIME, make_problem_for
from invjax.sales.rollout import rollout
from invjax.sales.train import SalesTrainConfig, train
from invjax.sales.calendar import calendar_features
from invjax.sales.windows import (HISTORY, SeriesCosts, Windows, check_windows,
                                  default_windows, make_split, series_costs, series_scale,
                                  store_groups)

POLICIES = ("data_driven", "quantile_nv", "fixed_quantile", "transformed_nv")
LABELS = {"data_driven": "data-driven net (HDPO)", "quantile_nv": "QuantileNV",
          "fixed_quantile": "FixedQuantile", "transformed_nv": "TransformedNV",
          "oracle": "just-in-time oracle (not admissible)"}


class Setup(NamedTuple):
    problem: Problem
    splits: dict  # "train" | "dev" | "test" -> SalesSplit
    costs: SeriesCosts
    windows: Windows
    scale: np.ndarray  # [S]
    warehouses: int  # 0: stores order from the supplier


def prepare(history: SalesHistory, n_stores: int = 1, warehouses: Optional[int] = None,
            windows: Optional[Windows] = None, repeats: int = 4, seed: int = 0,
            holidays=None) -> Setup:
    """Scenarios of every window: one store per series (n_stores = 1, no warehouse) or
    `repeats` random partitions of the series into groups of `warehouses` x n stores
    (default one warehouse when n_stores > 1), n under each warehouse."""
    warehouses = int(n_stores > 1) if warehouses is None else int(warehouses)
    stores = n_stores * max(warehouses, 1)
    windows = windows or default_windows(history.periods)
    check_windows(windows, history)
    costs = series_costs(history, seed)
    scale = series_scale(history, windows.train)
    groups = store_groups(len(history.series), stores, repeats, seed)
    splits = {name: make_split(history, w, groups, costs, scale, warehouses=warehouses,
                               holidays=holidays) for name, w in windows._asdict().items()}
    problem = make_problem_for(stores, int(costs.lead_time.max()), warehouses)
    return Setup(problem, splits, costs, windows, scale, warehouses)


def max_horizon(setup: Setup) -> int:
    return int(setup.costs.lead_time.max()) + 1 + (WAREHOUSE_LEAD_TIME if setup.warehouses else 0)


def fit_forecaster(history: SalesHistory, setup: Setup, key: jax.Array, steps: int,
                   holidays=None) -> forecast.Forecaster:
    """The quantile forecaster, trained on the training window only."""
    w = setup.windows.train
    calendar = calendar_features(history.dates[w.start:w.stop], holidays)
    x, y = forecast.training_set(history.sales, w.start, w.stop, calendar, setup.scale,
                                 HISTORY, max_horizon(setup))
    return forecast.fit(key, x, y, max_horizon(setup), steps)[0]


def _series_totals(result, split, n_series: int) -> np.ndarray:
    """[S] test profit per series (summed over the scenarios it appears in)."""
    return np.bincount(np.asarray(split.series).ravel(),
                       np.asarray(result.series_profit).ravel(), minlength=n_series)


def compare(history: SalesHistory, n_stores: int = 1, *, windows: Optional[Windows] = None,
            config: SalesTrainConfig = SalesTrainConfig(), policies=POLICIES,
            seed: int = 0, repeats: int = 4, setup: Optional[Setup] = None,
            holidays=None, warehouses: Optional[int] = None) -> dict:
    """Trains every policy in `policies` and reports test profit per store per period,
    as % of the just-in-time oracle's, and per series.

    Args:
      n_stores: stores per warehouse (1 and no warehouse: one store per series).
      warehouses: warehouses per scenario (default: 1 when n_stores > 1, else 0).
      holidays: dates for the calendar feature (default `calendar.default_holidays`).
    """
    unknown = set(policies) - set(POLICIES)
    if unknown:
        raise ValueError(f"policies: unknown {sorted(unknown)}; allowed: {list(POLICIES)}")
    started = time.time()
    setup = setup or prepare(history, n_stores, warehouses, windows=windows, repeats=repeats,
                             seed=seed, holidays=holidays)
    problem, splits = setup.problem, setup.splits
    k_forecast, k_net, k_nv = jax.random.split(jax.random.key(seed), 3)
    oracle = JustInTimeOracle(int(setup.costs.lead_time.max()), setup.warehouses)
    trained = {"oracle": (oracle, {})}
    if set(policies) - {"data_driven"}:
        fc = fit_forecaster(history, setup, k_forecast, config.forecast_steps, holidays)
    for name in policies:
        if name == "data_driven":
            policy = DataDrivenNet(int(setup.costs.lead_time.max()), setup.warehouses)
            params = policy.init(k_net)
        else:
            policy = Newsvendor(name, fc.max_horizon, setup.warehouses)
            params = policy.init(k_nv, fc.params)
        if name != "quantile_nv":
            params, _ = train(problem, policy, params, splits["train"], splits["dev"], config)
        trained[name] = (policy, params)
    results = {name: rollout(problem, pol, par, splits["test"]) for name, (pol, par)
               in trained.items()}
    oracle_profit = float(results["oracle"].mean_profit)
    n_series = len(history.series)
    return {
        "n_stores": n_stores, "warehouse": setup.warehouses > 0,
        "warehouses": setup.warehouses,
        "scenarios": int(splits["test"].scenarios.n), "series": n_series,
        "windows": {k: list(w) for k, w in setup.windows._asdict().items()},
        "profit": {k: float(r.mean_profit) for k, r in results.items()},
        "pct_oracle": {k: 100 * float(r.mean_profit) / oracle_profit
                       for k, r in results.items()},
        "series_profit": {k: _series_totals(r, splits["test"], n_series).tolist()
                          for k, r in results.items()},
        "seconds": time.time() - started,
        "policies": trained, "setup": setup,
    }

def summary_lines(report: dict) -> list[str]:
    """Human-readable lines: test profit per store per period and % of the oracle."""
    m, n = report.get("warehouses", int(report["warehouse"])), report["n_stores"]
    where = ("one store per series" if not m else f"one warehouse with {n} stores"
             if m == 1 else f"{m} warehouses with {n} stores each")
    lines = [f"{where}: {report['scenarios']} test scenarios of {report['series']} series",
             f"{'policy':40s} {'profit/store/period':>20s} {'% of oracle':>12s}"]
    order = sorted(report["profit"], key=lambda k: (k == "oracle", -report["profit"][k]))
    for name in order:
        lines.append(f"{LABELS[name]:40s} {report['profit'][name]:20.3f} "
                     f"{report['pct_oracle'][name]:11.1f}%")
    return lines
