"""Policies: `init(key) -> params`, `apply(params, observation) -> Action`."""

from invjax.policies.heuristics import (
    StructuredPolicy,
    base_stock,
    base_stock_allocation,
    capped_base_stock,
    echelon_stock,
)
from invjax.policies.policy import (
    Policy,
    allocate,
    inventory_position,
    inverse_softplus,
    proportional_allocation,
)
from invjax.policies.registry import check_fits, default_for, fits, fitting, make, names
from invjax.policies.neural import vanilla
from invjax.policies.symmetry_aware import symmetry_aware
