"""Known optima and bounds of the benchmark settings, per store per period.

- one_store_backlogged: closed-form base-stock (newsvendor on lead-time demand);
- one_store_lost: exact value iteration over the pipeline state (Zipkin 2008);
- serial: Clark-Scarf echelon base-stock recursion;
- transshipment: the lower bound obtained by relaxing non-negative allocations;
- one_warehouse: none known.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 5; SPEC §6.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import stats

from invjax.problem import Problem

_NO_OPTIMUM = ("one_warehouse",)


def _scalar(x) -> float:
    values = np.unique(np.asarray(x))
    if values.size != 1:
        raise ValueError(f"optimal: needs identical parameters across stores, got {values}")
    return float(values[0])


def backlogged_base_stock(mean, std, lead_time, underage_cost, holding_cost):
    """(cost per period, S*) of a backlogged store with i.i.d. N(mean, std) demand.

    References: Zipkin (2000), Foundations of Inventory Management, Section 6.
    """
    z = stats.norm.ppf(underage_cost / (underage_cost + holding_cost))
    spread = std * math.sqrt(lead_time + 1)
    cost = (holding_cost + underage_cost) * spread * stats.norm.pdf(z)
    return float(cost), float(mean * (lead_time + 1) + z * spread)


def transshipment_bound(problem: Problem) -> float:
    """Lower bound per store per period for the transshipment network (SPEC §6)."""
    p = problem.params
    h, b = _scalar(p.holding_cost), _scalar(p.underage_cost)
    lead, centre = _scalar(p.lead_time), _scalar(p.warehouse_lead_time)
    sigma = np.asarray(p.demand_std, np.float64)
    rho = problem.structure.demand.correlation
    total_var = (sigma**2).sum() + rho * (sigma.sum() ** 2 - (sigma**2).sum())
    z = stats.norm.ppf(b / (b + h))
    spread = math.sqrt(sigma.sum() ** 2 * (lead + 1) + total_var * centre)
    return float((h + b) * stats.norm.pdf(z) * spread / sigma.size)


@functools.cache
def _lost_sales(lead_time: int, underage_cost: float, holding_cost: float, mean: float):
    from invjax.optimal.lost_sales import solve_lost_sales

    return solve_lost_sales(lead_time, underage_cost, holding_cost, mean)


@functools.cache
def _serial(lead_times: tuple, holding_costs: tuple, underage_cost: float, mean, std):
    from invjax.optimal.serial import solve_serial

    return solve_serial(lead_times, holding_costs, underage_cost, mean, std, True)


def _serial_args(problem: Problem):
    p = problem.params
    lead_times = tuple(int(x) for x in np.concatenate(
        [p.echelon_lead_time, p.warehouse_lead_time, p.lead_time]))
    holding = tuple(float(x) for x in np.concatenate(
        [p.echelon_holding_cost, p.warehouse_holding_cost, p.holding_cost]))
    return lead_times, holding, float(p.underage_cost[0]), float(p.demand_mean[0]), float(
        p.demand_std[0])


def _one_store_args(problem: Problem):
    p = problem.params
    return (float(p.demand_mean[0]), float(p.demand_std[0]), int(p.lead_time[0]),
            float(p.underage_cost[0]), float(p.holding_cost[0]))


def _check(problem: Problem) -> str:
    name = problem.structure.name
    if name in _NO_OPTIMUM:
        raise ValueError(
            f"optimal: no known optimum for setting {name!r}; defined for "
            "one_store_backlogged, one_store_lost, serial (and a bound for transshipment)"
        )
    if name not in ("one_store_backlogged", "one_store_lost", "serial", "transshipment"):
        raise ValueError(f"optimal: unknown setting {name!r}")
    if problem.structure.maximize_profit:
        raise ValueError("optimal: defined for cost mode only (maximize_profit=False)")
    return name


def cost(problem: Problem) -> float:
    """Optimal (or, for transshipment, a lower bound on the) cost per store per period."""
    name = _check(problem)
    if name == "one_store_backlogged":
        return backlogged_base_stock(*_one_store_args(problem))[0]
    if name == "one_store_lost":
        mean, _, lead, under, hold = _one_store_args(problem)
        return float(_lost_sales(lead, under, hold, mean).cost)
    if name == "serial":
        return float(_serial(*_serial_args(problem)).cost)
    return transshipment_bound(problem)


def policy(problem: Problem):
    """(policy, params) attaining `cost(problem)` where an optimal policy is known."""
    from invjax.policies import heuristics

    name = _check(problem)
    if name == "one_store_backlogged":
        level = backlogged_base_stock(*_one_store_args(problem))[1]
        pol = heuristics.base_stock(problem)
        return pol, pol.params_for(level)
    if name == "one_store_lost":
        from invjax.policies.table import lost_sales_table_policy

        mean, _, lead, under, hold = _one_store_args(problem)
        return lost_sales_table_policy(problem, _lost_sales(lead, under, hold, mean))
    if name == "serial":
        pol = heuristics.echelon_stock(problem)
        return pol, pol.params_for(_serial(*_serial_args(problem)).echelon_levels)
    raise ValueError(
        "optimal.policy: the transshipment value is a lower bound; no policy attains it"
    )
