"""The options of every setting, typed: one place that checks what a user may pass.

    check_options("one_warehouse", {"n_stores": 2.5, ...})  # ValueError naming n_stores

References: SPEC §3, §7 (the settings and their ranges).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any


@dataclasses.dataclass(frozen=True)
class Option:
    """What one option accepts.

    Attributes:
      kind: "int", "float", "bool", "int_list" or "float_list".
      low, high: inclusive bounds of the value (of every entry of a list); None = open.
      below_high: the upper bound is exclusive.
      nullable: None (YAML null) is allowed too; the builder gives it its meaning.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    below_high: bool = False
    nullable: bool = False

    def allowed(self) -> str:
        what = {"int": "an integer", "float": "a number", "bool": "true or false",
                "int_list": "a non-empty list of integers",
                "float_list": "a non-empty list of numbers"}[self.kind]
        bounds = []
        if self.low is not None:
            bounds.append(f">= {self.low:g}")
        if self.high is not None:
            bounds.append(f"{'<' if self.below_high else '<='} {self.high:g}")
        what += " " + " and ".join(bounds) if bounds else ""
        return what + (" or null" if self.nullable else "")

    def check(self, label: str, value: Any):
        """The value, normalised (int, float, bool or list); ValueError naming `label`."""
        if value is None and self.nullable:
            return None
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{label}: must be {self.allowed()}, got {value!r}")
            return value
        if self.kind.endswith("_list"):
            if not isinstance(value, (list, tuple)) or not value:
                raise ValueError(f"{label}: must be {self.allowed()}, got {value!r}")
            scalar = dataclasses.replace(self, kind=self.kind[:-5])
            for entry in value:
                if not _is_scalar(scalar.kind, entry) or not scalar._in_range(entry):
                    raise ValueError(f"{label}: must be {self.allowed()}, got {value!r}")
            return [scalar._normalise(v) for v in value]
        if not _is_scalar(self.kind, value) or not self._in_range(value):
            raise ValueError(f"{label}: must be {self.allowed()}, got {value!r}")
        return self._normalise(value)

    def _in_range(self, value) -> bool:
        if self.low is not None and value < self.low:
            return False
        if self.high is not None and (value >= self.high if self.below_high
                                      else value > self.high):
            return False
        return True

    def _normalise(self, value):
        return int(value) if self.kind == "int" else float(value)


def _is_scalar(kind: str, value) -> bool:
    """An int (an integral float too) for "int"; a finite int or float for "float"."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if not math.isfinite(value):
        return False
    return kind == "float" or float(value).is_integer()


LEAD_TIME = Option("int", 1)
COST = Option("float", 0)
COUNT = Option("int", 1)
SEED = Option("int", 0)
SLOTS = Option("int", 1)
CORRELATION = Option("float", 0, 1, below_high=True)

_ONE_STORE = {"lead_time": LEAD_TIME, "underage_cost": COST, "holding_cost": COST,
              "demand_mean": COST, "inventory_periods": SLOTS}

SCHEMAS: dict[str, dict[str, Option]] = {
    "one_store_backlogged": {**_ONE_STORE, "demand_std": COST},
    "one_store_lost": dict(_ONE_STORE),
    "serial": {**_ONE_STORE, "demand_std": COST, "upstream_lead_times": Option("int_list", 1),
               "upstream_holding_costs": Option("float_list", 0)},
    "transshipment": {
        "n_stores": COUNT, "seed": SEED, "lead_time": LEAD_TIME, "underage_cost": COST,
        "holding_cost": COST, "correlation": CORRELATION, "warehouse_lead_time": LEAD_TIME,
        "warehouse_holding_cost": COST, "inventory_periods": SLOTS},
    "one_warehouse": {
        "n_stores": COUNT, "seed": SEED, "lead_time_choices": Option("int_list", 1),
        "correlation": CORRELATION, "warehouse_lead_time": LEAD_TIME,
        "warehouse_holding_cost": COST, "inventory_periods": SLOTS,
        "maximize_profit": Option("bool")},
    "many_warehouses": {
        "n_warehouses": Option("int", 2), "n_stores": Option("int", 2, nullable=True),
        "seed": SEED,
        "network_seed": SEED, "correlation": CORRELATION, "warehouse_lead_time": LEAD_TIME,
        "inventory_periods": SLOTS},
    "serial_chain": {**_ONE_STORE, "demand_std": COST, "n_stages": Option("int", 2)},
    "independent_stores": {**_ONE_STORE, "n_stores": COUNT},
}


def check_options(setting: str, values: dict[str, Any]) -> dict[str, Any]:
    """`values` checked against the setting's schema and normalised.

    Raises:
      ValueError: an unknown option, a missing one, or a value of the wrong type or range
        (naming the setting, the option and what it allows).
    """
    schema = SCHEMAS[setting]
    unknown = set(values) - set(schema)
    if unknown:
        raise ValueError(f"{setting}: unknown option(s) {sorted(unknown)}; "
                         f"allowed: {sorted(schema)}")
    missing = set(schema) - set(values)
    if missing:
        raise ValueError(f"{setting}: missing option(s) {sorted(missing)}")
    return {key: schema[key].check(f"{setting}: {key}", value)
            for key, value in values.items()}
