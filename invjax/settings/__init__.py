"""The benchmark settings, built from the YAML files shipped beside this module, and
users' own networks from YAML files.

    invjax.settings.names()
    invjax.settings.make("one_store_lost", lead_time=4, underage_cost=9)
    invjax.settings.make("one_warehouse", n_stores=20, seed=0)
    invjax.settings.make("many_warehouses", n_warehouses=3, n_stores=20)
    invjax.settings.make("serial_chain", n_stages=5)
    invjax.settings.make("examples/my_network.yaml")   # = load_network(path)
    invjax.settings.load_yaml("my_setting.yaml")

The options each setting accepts (types, ranges) are in `options.SCHEMAS`; the builders
in `builders.py`; the network file layout in `user_network.py`.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 5; SPEC §3, §7.
"""

from __future__ import annotations

import copy
import pathlib
from typing import Any

from invjax.problem import Problem
from invjax.settings.builders import BUILDERS
from invjax.settings.options import check_options
from invjax.settings.user_network import data_sizes, load_network, read_yaml

_DIR = pathlib.Path(__file__).parent
NETWORK_SUFFIXES = (".yaml", ".yml")


def names() -> list[str]:
    """The built-in settings."""
    return list(BUILDERS)


def is_network_file(name) -> bool:
    """True when `name` is not a built-in setting but a path to a network YAML file."""
    return isinstance(name, (str, pathlib.Path)) and str(name) not in BUILDERS \
        and pathlib.Path(name).suffix in NETWORK_SUFFIXES


def _check_name(name) -> None:
    if not isinstance(name, str) or name not in BUILDERS:
        raise ValueError(f"setting: unknown {name!r}; allowed: {names()} or the path of a "
                         f"network file ({' / '.join(NETWORK_SUFFIXES)})")


def config(name) -> dict[str, Any]:
    """The shipped YAML of a setting: `problem` defaults, `grid` and `data` sizes. For a
    network file: its `data` sizes (defaults where it has none) and no problem options."""
    if is_network_file(name):
        return {"setting": str(name), "problem": {}, "data": data_sizes(name)}
    _check_name(name)
    return read_yaml(_DIR / f"{name}.yaml")


def make(name, **overrides: Any) -> Problem:
    """Builds setting `name` with its shipped defaults, updated by `overrides`; or the
    network in file `name` (which takes no overrides: edit the file).

    Raises:
      ValueError: unknown setting, unknown option, or an invalid value (naming the option
        and what it allows).
    """
    if is_network_file(name):
        if overrides:
            raise ValueError(f"{name}: a network file takes no problem options (got "
                             f"{sorted(overrides)}); edit the file instead")
        return load_network(name)
    problem_config = copy.deepcopy(config(name)["problem"])
    unknown = set(overrides) - set(problem_config)
    if unknown:
        raise ValueError(
            f"{name}: unknown override(s) {sorted(unknown)}; allowed: {sorted(problem_config)}"
        )
    problem_config.update(overrides)
    return BUILDERS[name](check_options(name, problem_config))


def load_yaml(path) -> Problem:
    """Builds a problem from a YAML file with `setting: NAME` and a `problem:` mapping
    of overrides (the layout of the shipped files)."""
    document = read_yaml(path)
    if "setting" not in document:
        raise ValueError(f"{path}: missing key 'setting'; allowed values: {names()}")
    problem = document.get("problem") or {}
    if not isinstance(problem, dict):
        raise ValueError(f"{path}: problem: expected a mapping of options, got {problem!r}")
    return make(document["setting"], **problem)


__all__ = ["names", "config", "make", "load_yaml", "load_network", "is_network_file"]
