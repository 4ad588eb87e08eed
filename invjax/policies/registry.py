"""Policies by name, and which settings each fits."""

from __future__ import annotations

import importlib
import inspect

from invjax.problem import Problem

# name -> (module, factory, fits(structure) -> bool, description of where it fits)
_REGISTRY = {
    "base_stock": ("heuristics", "base_stock", lambda s: s.n_warehouses == 0,
                   "one_store_backlogged, one_store_lost"),
    "capped_base_stock": ("heuristics", "capped_base_stock", lambda s: s.n_warehouses == 0,
                          "one_store_backlogged, one_store_lost"),
    "echelon_stock": ("heuristics", "echelon_stock",
                      lambda s: s.n_warehouses == 1 and s.n_stores == 1 and not s.transshipment,
                      "serial"),
    "base_stock_allocation": ("heuristics", "base_stock_allocation",
                              lambda s: s.n_warehouses == 1 and s.n_echelons == 0,
                              "one_warehouse, transshipment"),
    "vanilla": ("neural", "vanilla", lambda s: True, "every setting"),
    "symmetry_aware": ("symmetry_aware", "symmetry_aware",
                       lambda s: s.n_warehouses == 1 and s.n_echelons == 0,
                       "one_warehouse, transshipment"),
    "symmetry_aware_unshared": ("symmetry_aware", "symmetry_aware",
                                lambda s: s.n_warehouses == 1 and s.n_echelons == 0,
                                "one_warehouse, transshipment"),
}

_DEFAULTS = {
    "one_store_backlogged": "vanilla",
    "one_store_lost": "vanilla",
    "serial": "vanilla",
    "transshipment": "vanilla",
    "one_warehouse": "symmetry_aware",
}


def names() -> list[str]:
    """Names of the built-in policies."""
    return list(_REGISTRY)


def default_for(setting: str) -> str:
    """The policy trained when none is named."""
    return _DEFAULTS.get(setting, "vanilla")


def check_fits(name: str, problem: Problem) -> None:
    """Raises ValueError if policy `name` is unknown or does not fit the problem."""
    if name not in _REGISTRY:
        raise ValueError(f"policy: unknown {name!r}; allowed: {names()}")
    _, _, fits, where = _REGISTRY[name]
    if not fits(problem.structure):
        fitting = [n for n, entry in _REGISTRY.items() if entry[2](problem.structure)]
        raise ValueError(
            f"policy {name!r} does not fit setting {problem.structure.name!r} (it is for "
            f"{where}); policies for this setting: {fitting}"
        )


def make(name: str, problem: Problem, **options):
    """Builds policy `name` for `problem`; options go to its factory (e.g. hidden=[64])."""
    check_fits(name, problem)
    module, factory, _, _ = _REGISTRY[name]
    build = getattr(importlib.import_module(f"invjax.policies.{module}"), factory)
    if name == "symmetry_aware_unshared":
        options = {**options, "shared": False}
    allowed = set(inspect.signature(build).parameters) - {"problem"}
    unknown = set(options) - allowed
    if unknown:
        raise ValueError(f"policy {name!r}: unknown option(s) {sorted(unknown)}; "
                         f"allowed: {sorted(allowed)}")
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    return build(problem, **options)
