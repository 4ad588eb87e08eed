"""A problem = static network structure + per-instance parameters (a pytree).

The structure (the network, lost/backlogged, cost/profit, demand model) is
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

from invjax.network import Network

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
    """Static structure of an inventory problem; hashable, fixes all shapes.

    The topology lives in `network` (`invjax.network`); counts and widths are read
    from it.
    """

    name: str
    network: Network
    lost_demand: bool
    maximize_profit: bool = False
    demand: Demand = Demand()
    demand_history: int = 0  # past demands per store kept in the state (policy input)

    @property
    def n_stores(self) -> int:
        return self.network.count("store")

    @property
    def n_warehouses(self) -> int:
        return self.network.count("warehouse")

    @property
    def n_echelons(self) -> int:
        return self.network.count("echelon")

    @property
    def store_slots(self) -> int:
        return self.network.width("store")

    @property
    def warehouse_slots(self) -> int:
        return self.network.width("warehouse")

    @property
    def echelon_slots(self) -> int:
        return self.network.width("echelon")

    @property
    def transshipment(self) -> bool:
        """A warehouse that keeps nothing: its policies ship all it holds."""
        return any(not w.keeps_stock for w in self.network.of_kind("warehouse"))

    def count(self, field: str) -> int:
        """Entries of a `Params` field: locations of its kind, or edges into that kind."""
        kind = FIELD_KINDS[field]
        if field in EDGE_FIELDS:
            return len(self.network.edges_into(kind))
        return self.network.count(kind)


# Params field -> kind of location it belongs to (edge fields: the edges into that kind).
FIELD_KINDS = {
    "holding_cost": "store", "underage_cost": "store", "demand_mean": "store",
    "demand_std": "store", "warehouse_holding_cost": "warehouse",
    "echelon_holding_cost": "echelon",
    "lead_time": "store", "warehouse_lead_time": "warehouse", "echelon_lead_time": "echelon",
    "procurement_cost": "store", "warehouse_procurement_cost": "warehouse",
    "echelon_procurement_cost": "echelon",
}
EDGE_FIELDS = {  # field -> attribute of `Edge` it defaults to
    "lead_time": "lead_time", "warehouse_lead_time": "lead_time",
    "echelon_lead_time": "lead_time", "procurement_cost": "cost",
    "warehouse_procurement_cost": "cost", "echelon_procurement_cost": "cost",
}
REQUIRED_FIELDS = ("holding_cost", "underage_cost", "demand_mean", "demand_std")
_INT_FIELDS = ("lead_time", "warehouse_lead_time", "echelon_lead_time")


@struct.dataclass
class Params:
    """Per-instance parameters. Leaves may carry leading batch axes (e.g. scenarios).

    Location fields have one entry per location of their kind; edge fields one per edge
    into that kind, in `Network.edges_into` order (= per location when each has one).
    """

    holding_cost: jnp.ndarray  # [..., n_stores]
    underage_cost: jnp.ndarray  # [..., n_stores] (unit margin in profit mode)
    lead_time: jnp.ndarray  # [..., store edges] int32, 1 <= L <= store_slots
    demand_mean: jnp.ndarray  # [..., n_stores]
    demand_std: jnp.ndarray  # [..., n_stores]
    warehouse_holding_cost: jnp.ndarray  # [..., n_warehouses]
    warehouse_procurement_cost: jnp.ndarray  # [..., warehouse edges]
    warehouse_lead_time: jnp.ndarray  # [..., warehouse edges] int32
    echelon_holding_cost: jnp.ndarray  # [..., n_echelons]
    echelon_lead_time: jnp.ndarray  # [..., echelon edges] int32
    procurement_cost: jnp.ndarray  # [..., store edges] per unit ordered over the edge
    echelon_procurement_cost: jnp.ndarray  # [..., echelon edges]


@struct.dataclass
class Problem:
    """An inventory network: `structure` is static, `params` a pytree."""

    structure: Structure = struct.field(pytree_node=False)
    params: Params


def make_problem(structure: Structure, **params: Any) -> Problem:
    """Builds and validates a problem from a structure and parameter arrays.

    Args:
      structure: the static structure.
      **params: fields of `Params`; scalars broadcast to their count. Edge fields
        (lead times, procurement costs) default to the network's edges; warehouse and
        echelon holding costs to 0.

    Returns:
      A validated `Problem`.

    Raises:
      ValueError: naming the offending field and what is allowed.
    """
    validate_structure(structure)
    fields = {f.name for f in dataclasses.fields(Params)}
    unknown = set(params) - fields
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)}; allowed: {sorted(fields)}")
    missing = set(REQUIRED_FIELDS) - set(params)
    if missing:
        raise ValueError(f"missing parameter(s) {sorted(missing)}")
    arrays = {}
    for field in sorted(fields):
        n = structure.count(field)
        if field in params:
            value = _as_array(field, params[field])
        elif field in EDGE_FIELDS:
            edges = structure.network.edges_into(FIELD_KINDS[field])
            value = np.asarray([getattr(e, EDGE_FIELDS[field]) for e in edges], np.float64)
        else:
            value = np.zeros(())
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


def _as_array(field: str, value) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{field}: expected a number or a list of numbers, "
                         f"got {value!r}") from None


def validate_structure(s: Structure) -> None:
    """Checks the static structure; raises ValueError naming the field."""
    if not isinstance(s.network, Network):
        raise ValueError(f"network: expected an invjax.network.Network, got {s.network!r}")
    if isinstance(s.demand_history, bool) or not isinstance(s.demand_history, int) \
            or s.demand_history < 0:
        raise ValueError(f"demand_history: must be an integer >= 0, got {s.demand_history!r}")
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
        "procurement_cost",
        "echelon_procurement_cost",
    ):
        value = np.asarray(getattr(p, field))
        if not np.all(np.isfinite(value)) or (value.size and value.min() < 0):
            raise ValueError(f"{field}: must be finite and >= 0, got {value}")
