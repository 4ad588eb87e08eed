"""Shared test configuration and helpers.

- JAX: key-reuse checking on for the whole session (float32 default); one persistent
  compilation cache per session, shared by the xdist workers and the notebook kernels.
- Hypothesis: a "ci" profile (no deadline, few examples; CI has 2 cores).
- Helpers (imported by the test modules with `from conftest import ...`): the small
  benchmark instances, random per-scenario parameters, states and demands, and the
  bridge from invjax arrays to the plain-NumPy oracle in `reference_sim.py`.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import jax
import numpy as np
from hypothesis import HealthCheck, settings

import invjax
from invjax.problem import Params

# Compiling is about half of the suite's time and many programs are compiled more than
# once (a policy's `init` per problem object, one rollout in several files, a rerun
# cell), so the session compiles each once into a cache on disk. xdist workers and
# notebook kernels inherit the directory from this (controller) process, which alone
# removes it at exit; a cache the caller set is used and kept.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="invjax-test-xla-")
    atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs",
                  float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))

jax.config.update("jax_debug_key_reuse", True)

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=8,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# --------------------------------------------------------------------------------------
# Small instances of every benchmark setting (SPEC §3).
# id -> (setting name, overrides)
INSTANCES = {
    "one_store_backlogged": ("one_store_backlogged", {}),
    "one_store_backlogged_single_slot": (
        "one_store_backlogged", {"lead_time": 1, "inventory_periods": 1}),
    "one_store_lost": ("one_store_lost", {"lead_time": 3}),
    "serial": ("serial", {}),
    "serial_long": ("serial", {"upstream_lead_times": [1, 2, 3, 2],
                               "upstream_holding_costs": [0.05, 0.1, 0.2, 0.5],
                               "lead_time": 3}),
    "transshipment": ("transshipment", {"n_stores": 4, "correlation": 0.5}),
    "transshipment_n3": ("transshipment", {"n_stores": 3, "lead_time": 6}),
    "one_warehouse": ("one_warehouse", {"n_stores": 5, "lead_time_choices": [2, 3, 4, 5]}),
    "one_warehouse_profit": ("one_warehouse", {"n_stores": 3, "maximize_profit": True}),
    "many_warehouses": ("many_warehouses", {}),
    "many_warehouses_3x20": ("many_warehouses", {"n_warehouses": 3, "n_stores": 20}),
    "serial_chain_5": ("serial_chain", {"n_stages": 5}),
    "independent_stores": ("independent_stores", {"n_stores": 3}),
}


def spec2_oracle_fits(structure) -> bool:
    """The SPEC §2 oracle (`reference_sim.py`) expresses at most one warehouse and one
    inbound edge per location."""
    net = structure.network
    return structure.n_warehouses <= 1 and all(net.one_inbound_in_order(k) for k in
                                               ("store", "warehouse", "echelon"))


def make_instance(instance_id: str) -> invjax.Problem:
    name, overrides = INSTANCES[instance_id]
    return invjax.settings.make(name, **overrides)


def slots(structure):
    return {
        "lead_time": structure.store_slots,
        "warehouse_lead_time": structure.warehouse_slots,
        "echelon_lead_time": structure.echelon_slots,
    }


COST_RANGES = {"holding_cost": (0.5, 1.5), "underage_cost": (2.0, 12.0),
               "warehouse_holding_cost": (0.1, 0.6),
               "warehouse_procurement_cost": (0.0, 0.3),
               "echelon_holding_cost": (0.05, 0.3),
               "procurement_cost": (0.0, 0.3), "echelon_procurement_cost": (0.0, 0.3)}
# Costs the SPEC §2 oracle (`reference_sim.py`) has no notion of: the edge costs of SPEC
# §7 into stores and echelons; kept at the instance's (zero) values unless asked for.
SPEC7_ONLY = ("procurement_cost", "echelon_procurement_cost")


def random_params(problem: invjax.Problem, rng: np.random.Generator, n: int,
                  *, vary_costs: bool = True, edge_costs: bool = False) -> Params:
    """Per-scenario parameters [n, locations or edges]: lead times uniform in 1..slots
    per scenario and edge; costs (optionally) varied per scenario, all >= 0."""
    s = problem.structure
    base = jax.tree.map(np.asarray, problem.params)
    k = slots(s)
    out = {}
    for field in Params.__dataclass_fields__:
        m = s.count(field)
        if field in k:
            out[field] = rng.integers(1, k[field] + 1, size=(n, m)).astype(np.int32)
        elif vary_costs and field in COST_RANGES and (edge_costs or field not in SPEC7_ONLY):
            lo, hi = COST_RANGES[field]
            out[field] = rng.uniform(lo, hi, size=(n, m)).astype(np.float32)
        else:
            out[field] = np.broadcast_to(getattr(base, field), (n, m)).astype(np.float32)
    return Params(**{f: jax.numpy.asarray(v) for f, v in out.items()})


def random_inventories(problem: invjax.Problem, rng: np.random.Generator, n: int,
                       *, negative_store_on_hand: bool | None = None):
    """Random initial vectors; negative store on-hand only for backlogged stores."""
    s = problem.structure
    if negative_store_on_hand is None:
        negative_store_on_hand = not s.lost_demand
    store = rng.uniform(0.0, 10.0, (n, s.n_stores, s.store_slots))
    if negative_store_on_hand:
        store[:, :, 0] = rng.uniform(-10.0, 10.0, (n, s.n_stores))
    # Some exact zeros and ties exercise the kinks.
    store[rng.random(store.shape) < 0.1] = 0.0
    warehouse = rng.uniform(0.0, 30.0, (n, s.n_warehouses, s.warehouse_slots))
    echelon = rng.uniform(0.0, 30.0, (n, s.n_echelons, s.echelon_slots))
    f32 = lambda a: a.astype(np.float32)  # noqa: E731
    return f32(store), f32(warehouse), f32(echelon)


def random_demand(problem: invjax.Problem, rng: np.random.Generator, n: int, periods: int):
    """Random demand [n, T, S]; some negative values where the setting allows them
    (backlogged, unclipped normal: transshipment)."""
    s = problem.structure
    d = rng.uniform(0.0, 12.0, (n, periods, s.n_stores))
    d[rng.random(d.shape) < 0.05] = 0.0
    if not s.lost_demand and not s.demand.clip:
        d[rng.random(d.shape) < 0.1] *= -0.3
    return d.astype(np.float32)


def random_scenarios(problem, rng, n, periods, *, ignore_periods=0, **kwargs):
    """Scenarios from random arrays with per-scenario (random) lead times and costs."""
    store, warehouse, echelon = random_inventories(problem, rng, n, **kwargs)
    return invjax.scenarios.from_arrays(
        problem, random_demand(problem, rng, n, periods), store, warehouse, echelon,
        params=random_params(problem, rng, n), ignore_periods=ignore_periods)


def reference_params(structure, params: Params) -> dict:
    """Keyword arguments of `reference_step` / `reference_rollout` from per-scenario
    invjax parameters."""
    p = jax.tree.map(lambda x: np.asarray(x, np.float64), params)
    return dict(
        store_lead_time=np.asarray(params.lead_time),
        warehouse_lead_time=np.asarray(params.warehouse_lead_time),
        echelon_lead_time=np.asarray(params.echelon_lead_time),
        holding_cost=p.holding_cost,
        underage_cost=p.underage_cost,
        warehouse_holding_cost=p.warehouse_holding_cost,
        warehouse_procurement_cost=p.warehouse_procurement_cost,
        echelon_holding_cost=p.echelon_holding_cost,
        lost_demand=structure.lost_demand,
        maximize_profit=structure.maximize_profit,
    )


def softplus(x):
    return np.logaddexp(0.0, np.asarray(x, np.float64))
