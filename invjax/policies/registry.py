"""Policies by name, and which networks each fits: the one place that decides it.

Every factory, registered or not, asks `require(name, structure)`; the predicates read
the network (`Network.topology` and its edges), never a setting's name.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Sections 5-6; SPEC §4, §7.
"""

from __future__ import annotations

import importlib
import inspect

from invjax.network import SUPPLIER, Network
from invjax.problem import Problem, Structure


def stores_only(net: Network) -> bool:
    """Stores ordering from the supplier, nothing upstream (one_store, independent_stores)."""
    return net.topology in ("one_store", "independent_stores")


def serial(net: Network) -> bool:
    """A chain supplier -> stage -> ... -> one store."""
    return net.topology == "serial"


def one_warehouse(net: Network) -> bool:
    """One warehouse fed by the supplier, serving every store (one_warehouse, transshipment)."""
    return net.topology in ("one_warehouse", "transshipment")


def two_level(net: Network) -> bool:
    """Warehouses fed only by the supplier, stores fed by warehouses (and maybe the
    supplier), no upstream echelons: one_warehouse, transshipment, many_warehouses and
    the general networks of that shape."""
    warehouses = net.of_kind("warehouse")
    return (bool(warehouses) and not net.of_kind("echelon") and all(
        [e.source for e in net.edges if e.destination == w.name] == [SUPPLIER]
        for w in warehouses))


def shared_store_net(net: Network) -> bool:
    """Where the symmetry-aware net applies: two-level networks and independent stores."""
    return two_level(net) or net.topology == "independent_stores"


def any_network(net: Network) -> bool:
    del net
    return True


# name -> (module, factory, fits(network) -> bool, where it fits, in words)
_REGISTRY = {
    "base_stock": ("heuristics", "base_stock", stores_only,
                   "stores fed by the supplier alone (one_store_*, independent_stores)"),
    "capped_base_stock": ("heuristics", "capped_base_stock", stores_only,
                          "stores fed by the supplier alone (one_store_*, independent_stores)"),
    "echelon_stock": ("heuristics", "echelon_stock", serial, "serial chains"),
    "base_stock_allocation": ("heuristics", "base_stock_allocation", two_level,
                              "two-level networks (one_warehouse, transshipment, "
                              "many_warehouses)"),
    "vanilla": ("neural", "vanilla", any_network, "every network"),
    "symmetry_aware": ("symmetry_aware", "symmetry_aware", shared_store_net,
                       "two-level networks (one_warehouse, transshipment, many_warehouses) "
                       "and independent_stores"),
    "symmetry_aware_unshared": ("symmetry_aware", "symmetry_aware", shared_store_net,
                                "two-level networks (one_warehouse, transshipment, "
                                "many_warehouses) and independent_stores"),
    "gnn": ("gnn", "gnn", any_network, "every network"),
}
# Policies built by their own function rather than by `make`: (fits, where).
_UNREGISTERED = {
    "context_base_stock": (one_warehouse, "one-warehouse networks (one_warehouse, "
                                          "transshipment)"),
    "lost_sales_table": (lambda net: net.topology == "one_store",
                         "a single store fed by the supplier"),
}
# Policy trained when none is named, by topology (anything else: "vanilla").
_DEFAULTS = {"one_warehouse": "symmetry_aware", "many_warehouses": "symmetry_aware"}


def names() -> list[str]:
    """Names of the built-in policies."""
    return list(_REGISTRY)


def fits(name: str, network: Network) -> bool:
    """Whether policy `name` (registered or one of `_UNREGISTERED`) fits `network`."""
    if name in _REGISTRY:
        return _REGISTRY[name][2](network)
    if name in _UNREGISTERED:
        return _UNREGISTERED[name][0](network)
    raise ValueError(f"policy: unknown {name!r}; allowed: {names()}")


def fitting(network: Network) -> list[str]:
    """Names of the registered policies that fit `network`."""
    return [n for n, entry in _REGISTRY.items() if entry[2](network)]


def _structure(problem) -> Structure:
    return problem.structure if isinstance(problem, Problem) else problem


def require(name: str, problem) -> None:
    """Raises ValueError if policy `name` does not fit the problem (or structure); the
    message lists the registered policies that do."""
    s = _structure(problem)
    if fits(name, s.network):
        return
    where = _REGISTRY[name][3] if name in _REGISTRY else _UNREGISTERED[name][1]
    raise ValueError(
        f"policy {name!r} does not fit setting {s.name!r} (network topology "
        f"{s.network.topology!r}; it is for {where}); policies for this network: "
        f"{fitting(s.network)}")


def default_for(problem) -> str:
    """The policy trained when none is named, for a `Problem`, a `Structure` or the name
    of a shipped setting (built with its defaults): "symmetry_aware" on one-warehouse
    and many-warehouse networks, "vanilla" elsewhere (and for an unknown setting name)."""
    if isinstance(problem, str):
        from invjax import settings  # settings import the problem layer, not policies

        if problem not in settings.names():
            return "vanilla"
        problem = settings.make(problem)
    return _DEFAULTS.get(_structure(problem).network.topology, "vanilla")


def check_fits(name: str, problem: Problem) -> None:
    """Raises ValueError if policy `name` is unknown or does not fit the problem."""
    if name not in _REGISTRY:
        raise ValueError(f"policy: unknown {name!r}; allowed: {names()}")
    require(name, problem)


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
