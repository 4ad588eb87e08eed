"""A user's own network from a YAML file: locations, edges, costs and demand.

    name: my_network
    lost_demand: true              # false: backlogged
    maximize_profit: false
    demand: {distribution: normal, correlation: 0.5, clip: true}
    locations:
      - {name: hub, kind: warehouse, holding_cost: 0.3}
      - {name: north, kind: store, slots: 3, holding_cost: 1.0, underage_cost: 9.0,
         demand_mean: 5.0, demand_std: 1.5}
    edges:
      - {source: supplier, destination: hub, lead_time: 3, cost: 0.0}
      - {source: hub, destination: north, lead_time: 2}
    data: {train: [8192, 50, 30], dev: [4096, 100, 60], test: [4096, 5000, 3000]}

Loaded with `yaml.safe_load` only; every bad field is a ValueError naming the file and
the field, location or edge.

References: SPEC §7 (networks as data), §2 (costs), §3 (demand).
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np
import yaml

from invjax.network import Edge, Location, Network
from invjax.problem import Demand, Problem, Structure, make_problem
from invjax.settings.options import COST, SLOTS, Option

TOP_KEYS = ("name", "lost_demand", "maximize_profit", "demand", "locations", "edges", "data")
STORE_KEYS = ("name", "kind", "slots", "keeps_stock", "holding_cost", "underage_cost",
              "demand_mean", "demand_std")
OTHER_KEYS = ("name", "kind", "slots", "keeps_stock", "holding_cost")
EDGE_KEYS = ("source", "destination", "lead_time", "cost")
DEMAND_OPTIONS = {"distribution": None, "correlation": Option("float", -1, 1, below_high=True),
                  "clip": Option("bool"), "ar_coefficient": Option("float", 0, 1, True),
                  "seasonal_amplitude": Option("float", 0, 1),
                  "seasonal_period": Option("int", 1)}
DEFAULT_DATA = {"train": [8192, 50, 30], "dev": [4096, 100, 60], "test": [4096, 5000, 3000]}
_HOLDING_FIELD = {"store": "holding_cost", "warehouse": "warehouse_holding_cost",
                  "echelon": "echelon_holding_cost"}


def read_yaml(path) -> dict[str, Any]:
    """The mapping in YAML file `path` (safe loading); ValueError naming the file."""
    path = pathlib.Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ValueError(f"{path}: cannot read the file ({error.strerror})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        problem = str(error).replace("\n", " ")
        raise ValueError(f"{path}: not a valid (safe) YAML file: {problem}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a mapping of keys to values at the top, "
                         f"got {type(document).__name__}")
    return document


def _keys(label: str, entry, allowed, required) -> dict:
    if not isinstance(entry, dict):
        raise ValueError(f"{label}: expected a mapping, got {entry!r}")
    unknown = set(entry) - set(allowed)
    if unknown:
        raise ValueError(f"{label}: unknown key(s) {sorted(unknown)}; allowed: {list(allowed)}")
    missing = [k for k in required if k not in entry]
    if missing:
        raise ValueError(f"{label}: missing key(s) {missing}")
    return entry


def _location(entry, index: int, poisson: bool) -> tuple[Location, dict]:
    """A Location and its parameters {field: value} from one `locations` entry."""
    name = entry.get("name") if isinstance(entry, dict) else None
    label = f"locations[{index}] ({name!r})" if name else f"locations[{index}]"
    kind = entry.get("kind") if isinstance(entry, dict) else None
    if kind == "store":
        required = ("name", "kind", "holding_cost", "underage_cost", "demand_mean")
        _keys(label, entry, STORE_KEYS, required + (() if poisson else ("demand_std",)))
    else:
        _keys(label, entry, OTHER_KEYS, ("name", "kind"))
    if not isinstance(name, str):
        raise ValueError(f"{label}: name must be a string, got {name!r}")
    slots = SLOTS.check(f"{label}: slots", entry.get("slots", 1))
    keeps = Option("bool").check(f"{label}: keeps_stock", entry.get("keeps_stock", True))
    try:
        location = Location(name, kind, slots, keeps)
    except ValueError as error:
        raise ValueError(f"{label}: {error}") from None
    params = {}
    if kind in _HOLDING_FIELD:
        holding = entry.get("holding_cost", 0.0)
        params[_HOLDING_FIELD[kind]] = COST.check(f"{label}: holding_cost", holding)
    for key in ("underage_cost", "demand_mean", "demand_std"):
        if key in entry:
            params[key] = COST.check(f"{label}: {key}", entry[key])
    if kind == "store" and poisson:
        if "demand_std" in entry:
            raise ValueError(f"{label}: demand_std: not used by Poisson demand (its std is "
                             "sqrt(demand_mean)); remove it")
        params["demand_std"] = float(np.sqrt(params["demand_mean"]))
    return location, params


def _edge(entry, index: int) -> Edge:
    label = f"edges[{index}]"
    _keys(label, entry, EDGE_KEYS, ("source", "destination", "lead_time"))
    label = f"edge {entry['source']} -> {entry['destination']}"
    lead_time = Option("int", 1).check(f"{label}: lead_time", entry["lead_time"])
    cost = COST.check(f"{label}: cost", entry.get("cost", 0.0))
    return Edge(entry["source"], entry["destination"], lead_time, cost)


def _demand(entry) -> Demand:
    entry = _keys("demand", entry or {}, tuple(DEMAND_OPTIONS), ())
    values = {}
    for key, value in entry.items():
        option = DEMAND_OPTIONS[key]
        values[key] = value if option is None else option.check(f"demand: {key}", value)
    return Demand(**values)


def _list(document: dict, key: str) -> list:
    value = document.get(key)
    if not isinstance(value, list) or not value:
        raise ValueError(f"{key}: expected a non-empty list, got {value!r}")
    return value


def _build(document: dict, default_name: str) -> Problem:
    _keys("network file", document, TOP_KEYS, ("locations", "edges"))
    demand = _demand(document.get("demand"))
    poisson = demand.distribution == "poisson"
    located = [_location(e, i, poisson) for i, e in enumerate(_list(document, "locations"))]
    edges = [_edge(e, i) for i, e in enumerate(_list(document, "edges"))]
    network = Network(tuple(loc for loc, _ in located), tuple(edges))
    flags = {key: Option("bool").check(key, document.get(key, default))
             for key, default in (("lost_demand", True), ("maximize_profit", False))}
    name = document.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: must be a non-empty string, got {name!r}")
    structure = Structure(name=name, network=network, demand=demand, **flags)
    params: dict[str, list] = {}
    for kind in _HOLDING_FIELD:  # every field in its kind's location order
        for loc, values in located:
            if loc.kind == kind:
                for field, value in values.items():
                    params.setdefault(field, []).append(value)
    return make_problem(structure, **params)


def load_network(path) -> Problem:
    """The problem described by the network file `path` (layout: module docstring).

    Raises:
      ValueError: the file is missing or not safe YAML, or a field, location or edge is
        invalid (the message names the file and the offending entry).
    """
    document = read_yaml(path)
    try:
        return _build(document, pathlib.Path(path).stem)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def data_sizes(path) -> dict[str, list]:
    """The file's `data` section (train / dev / test [scenarios, periods, ignored]),
    completed with DEFAULT_DATA."""
    data = read_yaml(path).get("data") or {}
    if not isinstance(data, dict) or set(data) - set(DEFAULT_DATA):
        raise ValueError(f"{path}: data: expected a mapping with keys {list(DEFAULT_DATA)}, "
                         f"got {data!r}")
    for split, sizes in data.items():
        Option("int_list", 0).check(f"{path}: data: {split}", sizes)
        if len(sizes) != 3:
            raise ValueError(f"{path}: data: {split}: expected [scenarios, periods, "
                             f"ignored periods], got {sizes!r}")
    return {**DEFAULT_DATA, **data}

