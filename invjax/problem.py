"""A problem = static network structure + per-instance parameters (a pytree).

The structure (counts, pipeline widths, lost/backlogged, cost/profit, demand model) is
hashable and fixes array shapes, so it is a static argument of every jitted function.
The parameters are arrays that can be batched, vmapped and differentiated.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 2; SPEC §1, §3.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import struct

DISTRIBUTIONS = ("normal", "poisson")


@dataclasses.dataclass(frozen=True)
class Demand:
    """Static description of the demand process (means and stds live in `Params`)."""

    distribution: str = "normal"  # "normal" | "poisson"
    clip: bool = True  # clip normal demand at 0
    correlation: float = 0.0  # pairwise correlation between stores (normal only)
    ar_coefficient: float = 0.0  # AR(1) noise around the mean, in [0, 1)
    seasonal_amplitude: float = 0.0  # mean_t = mean * (1 + a sin(2 pi t / period))
    seasonal_period: int = 52


@dataclasses.dataclass(frozen=True)
class Structure:
    """Static structure of an inventory network; hashable, fixes all shapes."""

    name: str
    n_stores: int
    n_warehouses: int  # 0 (stores order from the supplier) or 1
    n_echelons: int  # upstream stages of a serial chain; echelon 0 is the most upstream
    store_slots: int  # K of a store vector [on_hand, pipe_1..pipe_{K-1}]
    warehouse_slots: int
    echelon_slots: int
    lost_demand: bool
    maximize_profit: bool = False
    transshipment: bool = False  # the centre cannot hold stock: its policies ship all
    demand: Demand = Demand()


@struct.dataclass
class Params:
    """Per-instance parameters. Leaves may carry leading batch axes (e.g. scenarios)."""

    holding_cost: jnp.ndarray  # [..., n_stores]
    underage_cost: jnp.ndarray  # [..., n_stores] (unit margin in profit mode)
    lead_time: jnp.ndarray  # [..., n_stores] int32, 1 <= L <= store_slots
    demand_mean: jnp.ndarray  # [..., n_stores]
    demand_std: jnp.ndarray  # [..., n_stores]
    warehouse_holding_cost: jnp.ndarray  # [..., n_warehouses]
    warehouse_procurement_cost: jnp.ndarray  # [..., n_warehouses]
    warehouse_lead_time: jnp.ndarray  # [..., n_warehouses] int32
    echelon_holding_cost: jnp.ndarray  # [..., n_echelons]
    echelon_lead_time: jnp.ndarray  # [..., n_echelons] int32


@struct.dataclass
class Problem:
    """An inventory network: `structure` is static, `params` a pytree."""

    structure: Structure = struct.field(pytree_node=False)
    params: Params


_INT_FIELDS = ("lead_time", "warehouse_lead_time", "echelon_lead_time")


def make_problem(structure: Structure, **params: Any) -> Problem:
    """Builds and validates a problem from a structure and parameter arrays.

    Args:
      structure: the static structure.
      **params: every field of `Params`; scalars broadcast to their location count.

    Returns:
      A validated `Problem`.

    Raises:
      ValueError: naming the offending field and what is allowed.
    """
    validate_structure(structure)
    counts = {
        "": structure.n_stores,
        "warehouse_": structure.n_warehouses,
        "echelon_": structure.n_echelons,
    }
    fields = {f.name for f in dataclasses.fields(Params)}
    unknown = set(params) - fields
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)}; allowed: {sorted(fields)}")
    missing = {
        f for f in fields if f not in params and not f.startswith(("warehouse_", "echelon_"))
    }
    if missing:
        raise ValueError(f"missing parameter(s) {sorted(missing)}")
    arrays = {}
    for field in sorted(fields):
        prefix = next(p for p in ("warehouse_", "echelon_", "") if field.startswith(p))
        n = counts[prefix]
        value = params.get(field, 0.0)
        value = np.asarray(value, dtype=np.float64)
        if value.ndim == 0:
            value = np.full((n,), value)
        if value.shape != (n,):
            raise ValueError(f"{field}: expected shape ({n},), got {value.shape}")
        if field in _INT_FIELDS:
            if not np.all(value == np.round(value)):
                raise ValueError(f"{field}: lead times must be integers, got {value}")
            arrays[field] = jnp.asarray(value, dtype=jnp.int32)
        else:
            arrays[field] = jnp.asarray(value, dtype=jnp.float32)
    problem = Problem(structure=structure, params=Params(**arrays))
    validate_params(structure, problem.params)
    return problem


def validate_structure(s: Structure) -> None:
    """Checks the static structure; raises ValueError naming the field."""
    if s.n_stores < 1:
        raise ValueError(f"n_stores: must be >= 1, got {s.n_stores}")
    if s.n_warehouses not in (0, 1):
        raise ValueError(f"n_warehouses: allowed 0 or 1, got {s.n_warehouses}")
    if s.n_echelons < 0:
        raise ValueError(f"n_echelons: must be >= 0, got {s.n_echelons}")
    if s.n_echelons > 0 and s.n_warehouses == 0:
        raise ValueError("n_echelons: a serial chain needs a warehouse (n_warehouses=1)")
    for name in ("store_slots", "warehouse_slots", "echelon_slots"):
        if getattr(s, name) < 1:
            raise ValueError(f"{name}: must be >= 1, got {getattr(s, name)}")
    d = s.demand
    if d.distribution not in DISTRIBUTIONS:
        raise ValueError(
            f"demand.distribution: unknown {d.distribution!r}; allowed: {list(DISTRIBUTIONS)}"
        )
    if not -1.0 < d.correlation < 1.0:
        raise ValueError(f"demand.correlation: must lie in (-1, 1), got {d.correlation}")
    if d.distribution == "poisson" and (d.correlation or d.ar_coefficient):
        raise ValueError("demand.correlation / ar_coefficient: only for normal demand")
    if not 0.0 <= d.ar_coefficient < 1.0:
        raise ValueError(f"demand.ar_coefficient: must lie in [0, 1), got {d.ar_coefficient}")
    if not 0.0 <= d.seasonal_amplitude <= 1.0:
        raise ValueError(
            f"demand.seasonal_amplitude: must lie in [0, 1], got {d.seasonal_amplitude}"
        )
    if s.transshipment and s.n_warehouses != 1:
        raise ValueError("transshipment: needs exactly one warehouse (the centre)")


def validate_params(s: Structure, p: Params) -> None:
    """Checks concrete parameter values against the structure (not usable under jit)."""
    slots = {
        "lead_time": s.store_slots,
        "warehouse_lead_time": s.warehouse_slots,
        "echelon_lead_time": s.echelon_slots,
    }
    for field, k in slots.items():
        value = np.asarray(getattr(p, field))
        if value.size and (value.min() < 1 or value.max() > k):
            raise ValueError(
                f"{field}: lead times must lie in 1..{k} (the location's state width), "
                f"got {np.unique(value).tolist()}"
            )
    for field in (
        "holding_cost",
        "underage_cost",
        "demand_mean",
        "demand_std",
        "warehouse_holding_cost",
        "warehouse_procurement_cost",
        "echelon_holding_cost",
    ):
        value = np.asarray(getattr(p, field))
        if not np.all(np.isfinite(value)) or (value.size and value.min() < 0):
            raise ValueError(f"{field}: must be finite and >= 0, got {value}")
