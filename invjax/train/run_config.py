"""Run configurations: a YAML document naming a setting, a policy and the trainer.

    setting: one_store_lost
    problem: {lead_time: 4, underage_cost: 9}
    policy: {name: vanilla, hidden: [32, 32, 32]}
    trainer: {learning_rate: 0.003, batch_size: 1024, epochs: 100, ...}
    seed: 0

Shipped configurations live in `invjax/configs/` as `SETTING-POLICY.yaml` (the paper's
sizes) and `default.yaml` (the quick main job).
"""

from __future__ import annotations

import copy
import dataclasses
import pathlib
from typing import Any

import yaml

from invjax import policies, settings
from invjax.train.hdpo import TrainConfig

CONFIG_DIR = pathlib.Path(__file__).resolve().parent.parent / "configs"
TOP_KEYS = ("setting", "problem", "policy", "trainer", "seed", "n_seeds")
TRAINER_KEYS = tuple(f.name for f in dataclasses.fields(TrainConfig))


def shipped() -> list[str]:
    """Names of the shipped run configurations."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def load(path_or_name) -> dict[str, Any]:
    """Loads a run configuration from a path or a shipped name."""
    path = pathlib.Path(path_or_name)
    if not path.exists():
        path = CONFIG_DIR / f"{path_or_name}.yaml"
    if not path.exists():
        raise ValueError(f"config: {path_or_name!r} not found; shipped: {shipped()}")
    with open(path) as f:
        return yaml.safe_load(f) or {}


def for_setting(setting: str | None, policy: str | None) -> dict[str, Any]:
    """The shipped configuration of (setting, policy); the default run without both."""
    if setting is None:
        return load("default")
    if setting not in settings.names():
        raise ValueError(f"setting: unknown {setting!r}; allowed: {settings.names()}")
    policy = policy or policies.default_for(setting)
    name = f"{setting}-{policy}"
    if name in shipped():
        return load(name)
    policies.check_fits(policy, settings.make(setting))
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
        target[path[-1]] = yaml.safe_load(raw)
    return config


def validate(config: dict) -> dict:
    """Checks keys; returns the config with every section present."""
    unknown = set(config) - set(TOP_KEYS)
    if unknown:
        raise ValueError(f"config: unknown key(s) {sorted(unknown)}; allowed: {list(TOP_KEYS)}")
    if "setting" not in config:
        raise ValueError(f"config: missing 'setting'; allowed: {settings.names()}")
    config = {"problem": {}, "policy": {}, "trainer": {}, "seed": 0, "n_seeds": 1, **config}
    for key, low in (("seed", 0), ("n_seeds", 1)):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{key}: expected an integer >= {low}, got {value!r}")
    for section in ("problem", "policy", "trainer"):
        if not isinstance(config[section], dict):
            raise ValueError(f"{section}: expected a mapping of keys to values, "
                             f"got {config[section]!r}")
    unknown = set(config["trainer"]) - set(TRAINER_KEYS)
    if unknown:
        raise ValueError(
            f"trainer: unknown key(s) {sorted(unknown)}; allowed: {sorted(TRAINER_KEYS)}"
        )
    return config


def build(config: dict):
    """(problem, policy, TrainConfig) of a validated run configuration."""
    config = validate(config)
    problem = settings.make(config["setting"], **config["problem"])
    options = dict(config["policy"])
    name = options.pop("name", policies.default_for(config["setting"]))
    policy = policies.make(name, problem, **options)
    trainer = dict(config["trainer"])
    if "train" not in trainer or "dev" not in trainer or "test" not in trainer:
        data = settings.config(config["setting"]).get("data", {})
        for split in ("train", "dev", "test"):
            trainer.setdefault(split, tuple(data[split]))
    return problem, policy, TrainConfig(**trainer)
