"""The paper's benchmark settings, built from the YAML files shipped beside this module.

    invjax.settings.names()
    invjax.settings.make("one_store_lost", lead_time=4, underage_cost=9)
    invjax.settings.make("one_warehouse", n_stores=20, seed=0)
    invjax.settings.load_yaml("my_setting.yaml")

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 5; SPEC §3.
"""

from __future__ import annotations

import copy
import pathlib
from typing import Any, Callable

import numpy as np
import yaml

from invjax.network import SUPPLIER, Edge, Network
from invjax.networks import chain, one_warehouse, stores
from invjax.problem import Demand, Problem, Structure, make_problem

_DIR = pathlib.Path(__file__).parent


def _one_store(name: str, lost: bool):
    def build(c: dict) -> Problem:
        _check_lead_time(c["lead_time"])
        (store,) = stores(1, int(c["inventory_periods"]))
        network = Network((store,), (Edge(SUPPLIER, store.name, int(c["lead_time"])),))
        demand = Demand("poisson", clip=False) if lost else Demand("normal", clip=True)
        structure = Structure(name=name, network=network, lost_demand=lost, demand=demand)
        return make_problem(
            structure,
            holding_cost=c["holding_cost"],
            underage_cost=c["underage_cost"],
            demand_mean=c["demand_mean"],
            demand_std=np.sqrt(c["demand_mean"]) if lost else c["demand_std"],
        )

    return build


def _serial(c: dict) -> Problem:
    lead_times = [int(x) for x in c["upstream_lead_times"]]
    holding = [float(x) for x in c["upstream_holding_costs"]]
    if len(lead_times) < 1 or len(lead_times) != len(holding):
        raise ValueError(
            "upstream_lead_times / upstream_holding_costs: need the same length >= 1 "
            f"(stages above the store), got {len(lead_times)} and {len(holding)}"
        )
    for value in lead_times + [c["lead_time"]]:
        _check_lead_time(value)
    n_echelons = len(lead_times) - 1
    names = [f"echelon_{k}" for k in range(n_echelons)] + ["warehouse", "store"]
    kinds = ["echelon"] * n_echelons + ["warehouse", "store"]
    slots = [1] * (n_echelons + 1) + [int(c["inventory_periods"])]
    network = chain(names, kinds, lead_times + [int(c["lead_time"])], slots)
    structure = Structure(name="serial", network=network, lost_demand=False,
                          demand=Demand("normal", clip=True))
    return make_problem(
        structure,
        holding_cost=c["holding_cost"], underage_cost=c["underage_cost"],
        demand_mean=c["demand_mean"], demand_std=c["demand_std"],
        warehouse_holding_cost=holding[-1], echelon_holding_cost=holding[:-1],
    )


def _store_draws(c: dict):
    """Per-store means and cvs, drawn once per instance from `seed` (SPEC §3)."""
    n = int(c["n_stores"])
    if n < 1:
        raise ValueError(f"n_stores: must be >= 1, got {n}")
    rng = np.random.default_rng(int(c["seed"]))
    mean = rng.uniform(2.5, 7.5, n)
    cv = rng.uniform(0.25, 0.5, n)
    return n, rng, mean, mean * cv


def _transshipment(c: dict) -> Problem:
    n, _, mean, std = _store_draws(c)
    _check_lead_time(c["lead_time"])
    _check_lead_time(c["warehouse_lead_time"])
    network = one_warehouse([int(c["lead_time"])] * n, int(c["inventory_periods"]),
                                     c["warehouse_lead_time"], keeps_stock=False)
    structure = Structure(
        name="transshipment", network=network, lost_demand=False,
        demand=Demand("normal", clip=False, correlation=float(c["correlation"])),
    )
    return make_problem(
        structure, holding_cost=c["holding_cost"], underage_cost=c["underage_cost"],
        demand_mean=mean, demand_std=std, warehouse_holding_cost=c["warehouse_holding_cost"],
    )


def _one_warehouse(c: dict) -> Problem:
    n, rng, mean, std = _store_draws(c)
    choices = [int(x) for x in c["lead_time_choices"]]
    for value in choices + [c["warehouse_lead_time"]]:
        _check_lead_time(value)
    holding = rng.uniform(0.7, 1.3, n)
    underage = rng.uniform(6.3, 11.7, n)
    lead_time = rng.choice(choices, n)
    network = one_warehouse(
        lead_time, max(int(c["inventory_periods"]), max(choices)), c["warehouse_lead_time"],
        keeps_stock=True)
    structure = Structure(
        name="one_warehouse", network=network, lost_demand=True,
        maximize_profit=bool(c["maximize_profit"]),
        demand=Demand("normal", clip=True, correlation=float(c["correlation"])),
    )
    return make_problem(
        structure, holding_cost=holding, underage_cost=underage,
        demand_mean=mean, demand_std=std, warehouse_holding_cost=c["warehouse_holding_cost"],
    )


_BUILDERS: dict[str, Callable[[dict], Problem]] = {
    "one_store_backlogged": _one_store("one_store_backlogged", lost=False),
    "one_store_lost": _one_store("one_store_lost", lost=True),
    "serial": _serial,
    "transshipment": _transshipment,
    "one_warehouse": _one_warehouse,
}


def _check_lead_time(value) -> None:
    if int(value) != value or int(value) < 1:
        raise ValueError(f"lead_time: must be an integer >= 1, got {value}")


def names() -> list[str]:
    """The settings of the paper's benchmark suite."""
    return list(_BUILDERS)


def config(name: str) -> dict[str, Any]:
    """The shipped YAML of a setting: `problem` defaults, `grid` and `data` sizes."""
    if name not in _BUILDERS:
        raise ValueError(f"setting: unknown {name!r}; allowed: {names()}")
    with open(_DIR / f"{name}.yaml") as f:
        return yaml.safe_load(f)


def make(name: str, **overrides: Any) -> Problem:
    """Builds setting `name` with its shipped defaults, updated by `overrides`.

    Raises:
      ValueError: unknown setting, unknown override key, or an invalid value.
    """
    problem_config = copy.deepcopy(config(name)["problem"])
    unknown = set(overrides) - set(problem_config)
    if unknown:
        raise ValueError(
            f"{name}: unknown override(s) {sorted(unknown)}; allowed: {sorted(problem_config)}"
        )
    problem_config.update(overrides)
    return _BUILDERS[name](problem_config)


def load_yaml(path) -> Problem:
    """Builds a problem from a YAML file with `setting: NAME` and a `problem:` mapping
    of overrides (the layout of the shipped files)."""
    with open(path) as f:
        document = yaml.safe_load(f) or {}
    if "setting" not in document:
        raise ValueError(f"{path}: missing key 'setting'; allowed values: {names()}")
    return make(document["setting"], **(document.get("problem") or {}))
