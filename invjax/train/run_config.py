"""Run configurations: a YAML document naming a setting, a policy and the trainer.

    setting: one_store_lost
    problem: {lead_time: 4, underage_cost: 9}
    policy: {name: vanilla, hidden: [32, 32, 32]}
    trainer: {learning_rate: 0.003, batch_size: 1024, epochs: 100, ...}
    seed: 0

`trainer.train`, `dev` and `test` ([n, periods, ignore_periods]) fix the horizons;
absent or null, they are derived from the network and the demand
(`invjax.train.horizons.safe_horizons`, on the setting's `data` sizes).

Shipped configurations live in `invjax/configs/` as `SETTING-POLICY.yaml` (the paper's
sizes) and `default.yaml` (the quick main job).
"""

from __future__ import annotations

import copy
import pathlib
from typing import Any

import pydantic
import yaml

from invjax import policies, settings
from invjax.scenarios import Horizon
from invjax.settings.user_network import read_yaml
from invjax.train import horizons, schema
from invjax.train.hdpo import TrainConfig

CONFIG_DIR = pathlib.Path(__file__).resolve().parent.parent / "configs"
SECTIONS = ("problem", "policy", "trainer")
_HORIZON = pydantic.TypeAdapter(Horizon)


def shipped() -> list[str]:
    """Names of the shipped run configurations."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def load(path_or_name) -> dict[str, Any]:
    """Loads a run configuration from a path or a shipped name (safe YAML; a malformed
    file raises a ValueError naming it)."""
    path = pathlib.Path(path_or_name)
    if not path.exists():
        path = CONFIG_DIR / f"{path_or_name}.yaml"
    if not path.exists():
        raise ValueError(f"config: {path_or_name!r} not found; shipped: {shipped()}")
    return read_yaml(path)


def for_setting(setting: str | None, policy: str | None) -> dict[str, Any]:
    """The shipped configuration of (setting, policy); the default run without both."""
    if setting is None:
        return load("default")
    problem = settings.make(setting)  # ValueError naming an unknown setting
    policy = policy or policies.default_for(problem)
    name = f"{setting}-{policy}"
    if name in shipped():
        return load(name)
    policies.check_fits(policy, problem)
    return {"setting": setting, "policy": {"name": policy}, "trainer": {}}


def apply_overrides(config: dict, assignments: list[str]) -> dict:
    """Applies `key.sub=value` assignments (values parsed as YAML)."""
    config = copy.deepcopy(config)
    for item in assignments:
        if "=" not in item:
            raise ValueError(f"--set: expected key=value, got {item!r}")
        key, raw = item.split("=", 1)
        path = key.strip().split(".")
        target = config
        for part in path[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ValueError(f"--set {key}: {part!r} is not a section")
        try:
            target[path[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ValueError(f"--set {key}: cannot read the value {raw!r} as YAML") from None
    return config


def validate(config: dict) -> dict:
    """Checks the top level (`schema.RunConfig`); returns the config with every
    section present, in the layout written to a run directory's `config.yaml`."""
    schema.check_run(config)
    return {"problem": {}, "policy": {}, "trainer": {}, "seed": 0, "n_seeds": 1, **config}


def build(config: dict):
    """(problem, policy, TrainConfig) of a run configuration."""
    config = validate(config)
    problem = settings.make(config["setting"], **config["problem"])
    options = dict(config["policy"])
    name = options.pop("name", None) or policies.default_for(problem)
    policy = policies.make(name, problem, **options)
    trainer = dict(config["trainer"])
    given = {s: trainer.pop(s, None) for s in horizons.SPLITS}
    fixed = {s: h for s, h in given.items() if h is not None}  # absent or null: derive
    derived = derive_horizons(config, problem, fixed)
    return problem, policy, TrainConfig(**trainer, **fixed, **derived)


def derive_horizons(config: dict, problem, fixed: dict) -> dict:
    """The horizons the trainer section leaves out (absent or null): the safe rule of
    `invjax.train.horizons` on the setting's `data` sizes."""
    data = settings.config(config["setting"]).get("data", {})
    readable = {}
    for split, value in fixed.items():
        try:
            readable[split] = _HORIZON.validate_python(value)
        except pydantic.ValidationError:
            pass  # TrainConfig names the bad field
    safe = horizons.safe_horizons(problem.structure, data, readable)
    return {s: h for s, h in safe.items() if s not in fixed}

