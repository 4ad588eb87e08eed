"""Known optima and bounds, per store per period, derived from the network.

The one place that decides what is known about a problem: `method(problem)` reads the
network's topology and the demand and cost conditions:

- one store, or independent stores, backlogged normal demand: closed-form base-stock
  (newsvendor on lead-time demand), averaged over the stores;
- one store, or independent stores, lost sales with Poisson demand: exact value
  iteration over the pipeline state (Zipkin 2008), per store, averaged;
- a serial chain, backlogged normal demand: the Clark-Scarf echelon recursion;
- transshipment (a centre that keeps nothing), backlogged normal demand: the SPEC §6
  lower bound (relaxing non-negative allocations);
- anything else (one_warehouse, many_warehouses, general networks, profit mode, AR or
  seasonal demand, edge costs on an exact optimum's network): nothing known.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 5; SPEC §6, §7.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple, Optional

import numpy as np
from scipy import stats

from invjax.network import SUPPLIER
from invjax.problem import Problem

BASE_STOCK, LOST_SALES_DP = "closed_form_base_stock", "lost_sales_dp"
CLARK_SCARF, TRANSSHIPMENT_BOUND = "clark_scarf", "transshipment_bound"
_HOLDING = {"store": "holding_cost", "warehouse": "warehouse_holding_cost",
            "echelon": "echelon_holding_cost"}
_LEAD_TIME = {"store": "lead_time", "warehouse": "warehouse_lead_time",
              "echelon": "echelon_lead_time"}
_EDGE_COSTS = ("procurement_cost", "warehouse_procurement_cost", "echelon_procurement_cost")


class Known(NamedTuple):
    """What is known about a problem's optimal cost per store per period."""

    cost: float
    is_bound: bool  # True: a lower bound, no policy attains it
    method: str  # one of BASE_STOCK, LOST_SALES_DP, CLARK_SCARF, TRANSSHIPMENT_BOUND


def _scalar(x) -> float:
    values = np.unique(np.asarray(x))
    if values.size != 1:
        raise ValueError(f"optimal: needs identical parameters across stores, got {values}")
    return float(values[0])


def method(problem: Problem) -> str:
    """How the optimum (or bound) of `problem` is known.

    Raises:
      ValueError: nothing is known; the message says why and where something is.
    """
    s = problem.structure
    topology, d = s.network.topology, s.demand
    where = (f"setting {s.name!r} (topology {topology!r}); optima are known for one or "
             "independent stores, serial chains, and a bound for transshipment")
    if s.maximize_profit:
        raise ValueError(f"optimal: defined for cost mode only (maximize_profit=False); {where}")
    if d.ar_coefficient or d.seasonal_amplitude:
        raise ValueError(f"optimal: needs i.i.d. demand (no AR or seasonal terms); {where}")
    normal_backlogged = d.distribution == "normal" and not s.lost_demand
    if topology == "transshipment" and normal_backlogged:
        return TRANSSHIPMENT_BOUND
    free = all(not np.any(np.asarray(getattr(problem.params, f))) for f in _EDGE_COSTS)
    if topology in ("one_store", "independent_stores", "serial") and not free:
        raise ValueError(f"optimal: needs zero edge (procurement) costs; {where}")
    if topology in ("one_store", "independent_stores"):
        if normal_backlogged:
            return BASE_STOCK
        if d.distribution == "poisson" and s.lost_demand:
            return LOST_SALES_DP
    if topology == "serial" and normal_backlogged:
        if np.any(np.diff(_serial_args(problem)[1]) < 0):
            raise ValueError("optimal: Clark-Scarf needs holding costs that do not decrease "
                             f"toward the store (echelon holding costs >= 0); {where}")
        return CLARK_SCARF
    raise ValueError(f"optimal: no known optimum for {where}")


def known(problem: Problem) -> Optional[Known]:
    """The optimum or lower bound of `problem` where one is known, else None."""
    try:
        how = method(problem)
    except ValueError:
        return None
    return Known(_COST[how](problem), how == TRANSSHIPMENT_BOUND, how)


def cost(problem: Problem) -> float:
    """Optimal (or, for transshipment, a lower bound on the) cost per store per period.

    Raises:
      ValueError: nothing is known for this problem (the message says why).
    """
    return _COST[method(problem)](problem)


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
def _serial(lead_times: tuple, holding_costs: tuple, underage_cost: float, mean, std,
            clip: bool = True):
    from invjax.optimal.serial import solve_serial

    return solve_serial(lead_times, holding_costs, underage_cost, mean, std, clip)


def _store_args(problem: Problem) -> list[tuple]:
    """(mean, std, lead time, p, h) of every store; each has one edge, from the supplier."""
    p = problem.params
    return [(float(p.demand_mean[i]), float(p.demand_std[i]), int(p.lead_time[i]),
             float(p.underage_cost[i]), float(p.holding_cost[i]))
            for i in range(problem.structure.n_stores)]


def _per_store(problem: Problem, one_store_cost) -> float:
    """Mean over the stores of each store's optimal cost (exact when they are equal)."""
    args = _store_args(problem)
    costs = [one_store_cost(*a) for a in args]
    return costs[0] if len(set(args)) == 1 else float(np.mean(costs))


def _lost_sales_cost(mean, std, lead, under, hold) -> float:
    del std  # Poisson: std = sqrt(mean)
    return float(_lost_sales(lead, under, hold, mean).cost)


def _chain(problem: Problem) -> list[str]:
    """Location names of a serial chain, upstream first."""
    net, names, current = problem.structure.network, [], SUPPLIER
    while not names or net.location(names[-1]).kind != "store":
        (current,) = [e.destination for e in net.edges if e.source == current]
        names.append(current)
    return names


def _serial_args(problem: Problem):
    p, net = problem.params, problem.structure.network
    lead_times, holding = [], []
    for name in _chain(problem):
        kind, i = net.index(name)
        ((_, j),) = net.inbound(name)
        lead_times.append(int(getattr(p, _LEAD_TIME[kind])[j]))
        holding.append(float(getattr(p, _HOLDING[kind])[i]))
    return (tuple(lead_times), tuple(holding), float(p.underage_cost[0]),
            float(p.demand_mean[0]), float(p.demand_std[0]), problem.structure.demand.clip)


_COST = {
    BASE_STOCK: lambda problem: _per_store(problem, lambda *a: backlogged_base_stock(*a)[0]),
    LOST_SALES_DP: lambda problem: _per_store(problem, _lost_sales_cost),
    CLARK_SCARF: lambda problem: float(_serial(*_serial_args(problem)).cost),
    TRANSSHIPMENT_BOUND: transshipment_bound,
}


def policy(problem: Problem):
    """(policy, params) attaining `cost(problem)` where an optimal policy is known.

    Raises:
      ValueError: nothing is known, the value is a bound, or no policy plays it here.
    """
    from invjax.policies import heuristics

    how = method(problem)
    if how == BASE_STOCK:
        levels = [backlogged_base_stock(*a)[1] for a in _store_args(problem)]
        pol = heuristics.base_stock(problem)
        return pol, pol.params_for(levels[0] if len(set(levels)) == 1 else np.asarray(levels))
    if how == LOST_SALES_DP:
        from invjax.policies.table import lost_sales_table_policy

        mean, _, lead, under, hold = _store_args(problem)[0]
        return lost_sales_table_policy(problem, _lost_sales(lead, under, hold, mean))
    if how == CLARK_SCARF:
        pol = heuristics.echelon_stock(problem)
        return pol, pol.params_for(_serial(*_serial_args(problem)).echelon_levels)
    raise ValueError(
        "optimal.policy: the transshipment value is a lower bound; no policy attains it"
    )
