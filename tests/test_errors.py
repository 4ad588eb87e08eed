"""Bad input raises ValueError whose message names the offending field (SPEC §3 edge
cases, and the library's input contract)."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import invjax
import invjax.train
from conftest import random_params


def small(name="one_store_backlogged", **overrides):
    return invjax.settings.make(name, **overrides)


def scenarios(problem, n, periods):
    store, warehouse, echelon = inventories(problem, n)
    demand = np.ones((n, periods, problem.structure.n_stores), np.float32)
    return invjax.scenarios.from_arrays(problem, demand, store, warehouse, echelon)


def inventories(problem, n):
    s = problem.structure
    return (np.ones((n, s.n_stores, s.store_slots), np.float32),
            np.zeros((n, s.n_warehouses, s.warehouse_slots), np.float32),
            np.zeros((n, s.n_echelons, s.echelon_slots), np.float32))


def test_unknown_setting_lists_the_allowed_names():
    with pytest.raises(ValueError) as info:
        invjax.settings.make("two_warehouses")
    message = str(info.value)
    assert "two_warehouses" in message
    for name in invjax.settings.names():
        assert name in message


def test_unknown_override_lists_the_allowed_keys():
    with pytest.raises(ValueError) as info:
        invjax.settings.make("one_store_lost", lead_tim=3)
    message = str(info.value)
    assert "lead_tim" in message
    config = invjax.settings.config("one_store_lost")["problem"]
    for key in config:
        assert key in message


@pytest.mark.parametrize("name", ["one_store_backlogged", "one_store_lost", "serial",
                                  "transshipment"])
@pytest.mark.parametrize("lead_time", [0, -1, -3])
def test_nonpositive_lead_time(name, lead_time):
    with pytest.raises(ValueError, match="lead_time"):
        invjax.settings.make(name, lead_time=lead_time)


@pytest.mark.parametrize("field,value", [
    ("warehouse_lead_time", 0), ("lead_time_choices", [0, 2]), ("lead_time_choices", [2, -1]),
])
def test_nonpositive_lead_time_one_warehouse(field, value):
    with pytest.raises(ValueError, match="lead_time"):
        invjax.settings.make("one_warehouse", **{field: value})


def test_nonpositive_upstream_lead_time():
    with pytest.raises(ValueError, match="lead_time"):
        invjax.settings.make("serial", upstream_lead_times=[2, 0, 3])


def test_nonpositive_lead_time_in_make_problem():
    s = small().structure
    kwargs = dict(holding_cost=1.0, underage_cost=9.0, demand_mean=5.0, demand_std=1.6)
    for bad in (0, -2, s.store_slots + 1):
        with pytest.raises(ValueError, match="lead_time"):
            invjax.make_problem(s, lead_time=bad, **kwargs)


@pytest.mark.parametrize("name,field", [
    ("one_store_backlogged", "lead_time"),
    ("one_warehouse", "lead_time"),
    ("one_warehouse", "warehouse_lead_time"),
    ("serial", "echelon_lead_time"),
    ("serial", "warehouse_lead_time"),
])
@pytest.mark.parametrize("too_far", [False, True])
def test_lead_time_outside_state_width_via_params(name, field, too_far):
    problem = small(name)
    s = problem.structure
    n = 3
    params = random_params(problem, np.random.default_rng(0), n)
    width = {"lead_time": s.store_slots, "warehouse_lead_time": s.warehouse_slots,
             "echelon_lead_time": s.echelon_slots}[field]
    value = np.array(getattr(params, field))
    value[1, 0] = width + 1 if too_far else 0
    params = params.replace(**{field: jnp.asarray(value)})
    store, warehouse, echelon = inventories(problem, n)
    with pytest.raises(ValueError, match=re.escape(field)):
        invjax.scenarios.from_arrays(problem, np.ones((n, 4, s.n_stores)), store, warehouse,
                                     echelon, params=params)


def test_params_with_wrong_scenario_count():
    problem = small("one_warehouse")
    s = problem.structure
    params = random_params(problem, np.random.default_rng(0), 4)
    store, warehouse, _ = inventories(problem, 3)
    with pytest.raises(ValueError, match="params"):
        invjax.scenarios.from_arrays(problem, np.ones((3, 4, s.n_stores)), store, warehouse,
                                     params=params)


@pytest.mark.parametrize("shape", [(2, 5, 2), (2, 5), (2, 5, 3, 1)])
def test_demand_shape_mismatch(shape):
    problem = small("one_warehouse")  # 3 stores
    store, warehouse, _ = inventories(problem, 2)
    with pytest.raises(ValueError, match="demand"):
        invjax.scenarios.from_arrays(problem, np.ones(shape), store, warehouse)


@pytest.mark.parametrize("field", ["store_inventory", "warehouse_inventory",
                                   "echelon_inventory"])
@pytest.mark.parametrize("change", ["scenarios", "slots"])
def test_inventory_shape_mismatch(field, change):
    problem = small("serial")
    arrays = dict(zip(["store_inventory", "warehouse_inventory", "echelon_inventory"],
                      inventories(problem, 2)))
    bad = arrays[field]
    arrays[field] = np.ones((3,) + bad.shape[1:]) if change == "scenarios" else np.ones(
        bad.shape[:2] + (bad.shape[2] + 1,))
    with pytest.raises(ValueError, match=field):
        invjax.scenarios.from_arrays(problem, np.ones((2, 4, 1)), **arrays)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_demand(bad):
    problem = small("one_store_backlogged")
    demand = np.ones((2, 4, 1))
    demand[1, 2, 0] = bad
    store, _, _ = inventories(problem, 2)
    with pytest.raises(ValueError, match="demand"):
        invjax.scenarios.from_arrays(problem, demand, store)


def test_nan_initial_inventory():
    problem = small("one_store_backlogged")
    store, _, _ = inventories(problem, 2)
    store[0, 0, 1] = np.nan
    with pytest.raises(ValueError, match="store_inventory"):
        invjax.scenarios.from_arrays(problem, np.ones((2, 4, 1)), store)


@pytest.mark.parametrize("name", ["one_store_lost", "one_warehouse"])
def test_negative_demand_on_lost_demand_problem(name):
    problem = small(name)
    s = problem.structure
    assert s.lost_demand
    demand = np.ones((2, 4, s.n_stores))
    demand[0, 1, 0] = -0.5
    store, warehouse, _ = inventories(problem, 2)
    with pytest.raises(ValueError, match="demand"):
        invjax.scenarios.from_arrays(problem, demand, store, warehouse)


def test_negative_demand_allowed_when_backlogged():
    problem = small("transshipment")  # unclipped normal demand may be negative
    s = problem.structure
    demand = np.ones((2, 4, s.n_stores))
    demand[0, 1, 0] = -0.5
    store, warehouse, _ = inventories(problem, 2)
    invjax.scenarios.from_arrays(problem, demand, store, warehouse)


@pytest.mark.parametrize("field,shape", [
    ("stores", (4, 4)), ("stores", (4,)), ("warehouses", (4, 2)), ("warehouses", (4,)),
])
def test_action_with_wrong_shape(field, shape):
    problem = small("one_warehouse")  # 3 stores, 1 warehouse
    env = invjax.Env(problem)
    sc = scenarios(problem, 4, 3)
    state = env.reset(sc)
    good = {"stores": jnp.ones((4, 3)), "warehouses": jnp.ones((4, 1))}
    good[field] = jnp.ones(shape)
    with pytest.raises(ValueError, match=f"Action.{field}"):
        env.step(state, invjax.Action(**good), sc.demand[:, 0])


def test_action_with_wrong_scenario_count():
    problem = small("one_warehouse")
    env = invjax.Env(problem)
    sc = scenarios(problem, 4, 3)
    for n in (5, 3, 1):  # more, fewer, and one scenario (which would broadcast)
        action = invjax.Action(jnp.ones((n, 3)), jnp.ones((n, 1)))
        with pytest.raises(ValueError, match=re.escape(
                f"Action.stores: expected shape [4, 3] (scenarios, edges into stores), "
                f"got [{n}, 3]")):
            env.step(env.reset(sc), action, sc.demand[:, 0])
    action = invjax.Action(jnp.ones((4, 3)), jnp.ones((5, 1)))
    with pytest.raises(ValueError, match=r"Action\.warehouses: expected shape \(4, 1\)"):
        env.step(env.reset(sc), action, sc.demand[:, 0])


def test_action_missing_a_required_location():
    problem = small("serial")
    env = invjax.Env(problem)
    sc = scenarios(problem, 2, 3)
    with pytest.raises(ValueError, match="Action.echelons"):
        env.step(env.reset(sc), invjax.Action(jnp.ones((2, 1)), jnp.ones((2, 1))),
                 sc.demand[:, 0])


@pytest.mark.parametrize("policy,setting", [
    ("base_stock", "one_warehouse"),
    ("capped_base_stock", "transshipment"),
    ("base_stock", "serial"),
    ("echelon_stock", "one_store_backlogged"),
    ("echelon_stock", "one_warehouse"),
    ("base_stock_allocation", "one_store_lost"),
    ("base_stock_allocation", "serial"),
])
def test_policy_setting_mismatch(policy, setting):
    problem = small(setting)
    with pytest.raises(ValueError) as info:
        getattr(invjax.policies, policy)(problem)
    assert policy in str(info.value)
    if (policy, setting) != ("echelon_stock", "one_warehouse"):
        # (echelon_stock on one_warehouse is refused for its store count instead:
        # "needs a single store, got 3".)
        assert setting in str(info.value)


def test_sample_start_scale_must_be_positive():
    problem = small("one_store_backlogged")
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match=r"^start_scale: .*allowed: a number > 0"):
            invjax.scenarios.sample(problem, jax.random.key(0), 2, 4, start_scale=bad)


def test_ignore_periods_not_below_periods():
    problem = small("one_store_backlogged")
    store, _, _ = inventories(problem, 2)
    for ignore in (4, 5, -1):
        with pytest.raises(ValueError, match="ignore_periods"):
            invjax.scenarios.from_arrays(problem, np.ones((2, 4, 1)), store,
                                         ignore_periods=ignore)
        with pytest.raises(ValueError, match="ignore_periods"):
            invjax.scenarios.sample(problem, jax.random.key(0), 2, 4, ignore_periods=ignore)
    sc = invjax.scenarios.from_arrays(problem, np.ones((2, 4, 1)), store)
    policy = invjax.policies.base_stock(problem)
    params = policy.params_for(20.0)
    for ignore in (4, 7):
        with pytest.raises(ValueError, match="ignore_periods"):
            invjax.simulate(problem, policy, params, sc, ignore_periods=ignore)
        with pytest.raises(ValueError, match="ignore_periods"):
            invjax.hindsight_cost(problem, policy, params, sc, ignore_periods=ignore)


def test_invalid_cost_parameters():
    with pytest.raises(ValueError, match="underage_cost"):
        invjax.settings.make("one_store_backlogged", underage_cost=-1.0)
    with pytest.raises(ValueError, match="holding_cost"):
        invjax.settings.make("one_store_backlogged", holding_cost=float("nan"))


# Training input (invjax.train): run configs, the trainer, YAML files, run directories.

@pytest.mark.parametrize("field, value, words", [
    ("learning_rate", "abc", ["valid number", "'abc'"]),
    ("learning_rate", 0.0, ["greater than 0"]),
    ("batch_size", 2.5, ["integer"]),
    ("epochs", True, ["integer"]),
    ("eval_every", 0, ["greater than or equal to 1"]),
    ("patience", -1, ["greater than or equal to 1"]),
    ("clip_norm", -1.0, ["greater than 0"]),
    ("schedule", "linear", ["'linear'", "allowed", "cosine"]),
    ("loss_periods", "warmup", ["'warmup'", "allowed", "after_warmup"]),
    ("backprop_periods", 0, ["greater than or equal to 1"]),
    ("train_start_scale", 0.0, ["greater than 0"]),
    ("backprop_periods", {"backprop_periods": 25, "estimator": "reinforce"},
     ["25", "allowed: None", "'reinforce'"]),
    ("train", [1024, 50], ["trainer.train[2]", "required"]),
    ("train", "many", ["trainer.train"]),
    ("train", [1024, 10, 10], ["trainer.train[2]", "allowed", "0 .. 9"]),
    ("dev", [1024, 10, -1], ["trainer.dev[2]", "allowed", "0 .. 9"]),
    ("batch_size", 4096, ["4096", "exceeds", "1024 training scenarios"]),
    ("batch_splits", 3, ["dividing trainer.batch_size"]),
    ("learnin_rate", 0.1, ["learnin_rate", "unknown", "learning_rate"]),
])
def test_trainer_config_names_the_field(field, value, words):
    together = value if isinstance(value, dict) else {field: value}  # fields that clash
    kwargs = {"batch_size": 256, "train": (1024, 10, 2), **together}
    with pytest.raises(ValueError) as info:
        invjax.train.TrainConfig(**kwargs)
    message = str(info.value)
    assert message.startswith(f"trainer.{field}"), message
    assert "\n" not in message, message
    for word in words:
        assert word in message, (word, message)


def test_trainer_config_stays_hashable_and_coerces_like_yaml():
    a = invjax.train.TrainConfig(learning_rate="1e-3", train=[1024, 10, 2], batch_size=256)
    b = invjax.train.TrainConfig(learning_rate=1e-3, train=(1024, 10, 2), batch_size=256)
    assert a == b and hash(a) == hash(b)
    assert a.train == invjax.scenarios.Horizon(1024, 10, 2)
    assert type(a.train) is invjax.scenarios.Horizon
    import dataclasses

    with pytest.raises(ValueError, match="trainer.epochs"):
        dataclasses.replace(a, epochs=0)  # re-validated


@pytest.mark.parametrize("config, words", [
    ({"setting": "one_store_lost", "n_seeds": 0}, ["n_seeds", "greater than or equal to 1"]),
    ({"setting": "one_store_lost", "n_seeds": 1.5}, ["n_seeds", "integer"]),
    ({"setting": "one_store_lost", "n_seeds": True}, ["n_seeds", "integer"]),
    ({"setting": "one_store_lost", "seed": -1}, ["seed", "greater than or equal to 0"]),
    ({"setting": "one_store_lost", "trainer": 3}, ["trainer", "dictionary"]),
    ({"setting": "one_store_lost", "trainr": {}}, ["trainr", "unknown", "trainer"]),
    ({"problem": {}}, ["setting", "required"]),
    ([1, 2], ["config", "mapping"]),
])
def test_run_config_names_the_field(config, words):
    from invjax.train import run_config

    with pytest.raises(ValueError) as info:
        run_config.build(config)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)


def test_batch_larger_than_the_training_data():
    from invjax.train import run_config

    config = {"setting": "one_store_lost",
              "trainer": {"batch_size": 512, "train": [256, 10, 2]}}
    with pytest.raises(ValueError, match="trainer.batch_size: 512 exceeds the 256"):
        run_config.build(config)


MALFORMED = "setting: [one_store_lost\ntrainer: {epochs: 3\n"
PYTHON_TAG = "setting: !!python/object/apply:os.system ['echo hacked']\n"


@pytest.mark.parametrize("text, words", [
    (MALFORMED, ["not a valid (safe) YAML"]),
    (PYTHON_TAG, ["not a valid (safe) YAML", "python/object/apply"]),
    ("- a list\n", ["mapping"]),
])
def test_bad_yaml_files_raise_value_errors_naming_the_file(tmp_path, text, words):
    from invjax.train import authors_config, run_config

    bad, good = tmp_path / "bad.yml", tmp_path / "good.yml"
    bad.write_text(text)
    good.write_text("nn_params: {name: vanilla_one_store}\n")
    for load in (lambda: run_config.load(bad), lambda: authors_config.load(bad, good),
                 lambda: authors_config.load(good, bad)):
        with pytest.raises(ValueError) as info:
            load()
        message = str(info.value)
        assert str(bad) in message and "\n" not in message, message
        for word in words:
            assert word in message, (word, message)


def test_authors_config_needs_both_files(tmp_path):
    from invjax.train import authors_config

    (tmp_path / "s.yml").write_text("problem_params: {n_stores: 1}\n")
    with pytest.raises(ValueError, match="--authors-hyperparams"):
        authors_config.load(tmp_path / "s.yml", None)
    with pytest.raises(ValueError, match="cannot read"):
        authors_config.load(tmp_path / "s.yml", tmp_path / "missing.yml")


def test_run_directory_errors(tmp_path):
    from invjax.train import runner

    config = {"setting": "one_store_backlogged", "policy": {"name": "base_stock"}}
    with pytest.raises(ValueError, match="resume: needs a run directory"):
        runner.fit(config, None, resume=True, progress=False)
    with pytest.raises(ValueError, match="has no checkpoints/last"):
        runner.fit(config, tmp_path / "empty", resume=True, progress=False)
    assert not (tmp_path / "empty").exists()  # nothing written
    with pytest.raises(ValueError, match="has no config.yaml"):
        runner.evaluate_run(tmp_path / "nothing")
    (tmp_path / "untrained").mkdir()
    (tmp_path / "untrained" / "config.yaml").write_text("setting: one_store_backlogged\n")
    with pytest.raises(ValueError, match="no checkpoints/best or checkpoints/last"):
        runner.evaluate_run(tmp_path / "untrained")
