"""Reading the authors' PyTorch YAML layout (settings + hyperparameters) into invjax run
configurations: one fixture pair per benchmark setting, plus the rejections.

The fixtures are small documents of our own with the authors' keys; nothing trains.
"""

import importlib.util
import re

import pytest
import yaml

from invjax.train import authors_config, run_config

NEURAL = {"vanilla": "invjax.policies.neural", "symmetry_aware": "invjax.policies.symmetry_aware"}


def _fixed(value):
    return {"sample_across_stores": False, "vary_across_samples": False, "expand": True,
            "value": value}


def _settings(n_stores=1, n_warehouses=0, n_echelons=0, lost=False, demand=None,
              lead_time=None, holding=None, underage=None, warehouse=None, echelon=None):
    """A settings document laid out like the authors' config_files/settings/*.yml."""
    return {
        "seeds": {"underage_cost": 1, "holding_cost": 2, "mean": 3, "coef_of_var": 4,
                  "lead_time": 5, "demand": 17, "initial_inventory": 6},
        "test_seeds": {"demand": 18, "initial_inventory": 7},
        "sample_data_params": {"split_by_period": False},
        "problem_params": {"n_stores": n_stores, "n_warehouses": n_warehouses,
                           "n_extra_echelons": n_echelons, "lost_demand": lost,
                           "maximize_profit": False},
        "params_by_dataset": {
            "train": {"n_samples": 64, "batch_size": 32, "periods": 20, "ignore_periods": 10},
            "dev": {"n_samples": 48, "batch_size": 48, "periods": 30, "ignore_periods": 12},
            "test": {"n_samples": 16, "batch_size": 16, "periods": 40, "ignore_periods": 20},
        },
        "observation_params": {
            "include_warehouse_inventory": n_warehouses > 0,
            "include_static_features": {"holding_costs": True, "underage_costs": True,
                                        "lead_times": True},
            "demand": {"past_periods": 0, "period_shift": 0},
            "include_past_observations": {"arrivals": 0, "orders": 0},
            "include_days_to_christmas": False,
        },
        "store_params": {
            "demand": demand,
            "lead_time": lead_time or _fixed(3),
            "holding_cost": holding or _fixed(1.5),
            "underage_cost": underage or _fixed(7.0),
            "initial_inventory": {"sample": True, "range_mult": [0, 1], "inventory_periods": 3},
        },
        "warehouse_params": warehouse,
        "echelon_params": echelon,
    }


def _hyper(name, layers, epochs=7, lr=0.002, every=2, **nn):
    """A hyperparameters document like config_files/policies_and_hyperparams/*.yml."""
    return {
        "trainer_params": {"epochs": epochs, "do_dev_every_n_epochs": every,
                           "print_results_every_n_epochs": 1, "save_model": False,
                           "load_previous_model": False, "load_model_path": None,
                           "choose_best_model_on": "dev_loss", "epochs_between_save": 5},
        "optimizer_params": {"learning_rate": lr},
        "nn_params": {"name": name, "neurons_per_hidden_layer": layers,
                      "initial_bias": None, **nn},
    }


def _normal(mean=4.0, std=1.2, clip=True):
    return {"sample_across_stores": False, "expand": True, "mean": mean, "std": std,
            "distribution": "normal", "clip": clip, "decimals": 3}


def _sampled_demand(correlation, clip):
    return {"sample_across_stores": True, "mean_range": [2.5, 7.5],
            "coef_of_var_range": [0.25, 0.5], "distribution": "normal",
            "correlation": correlation, "clip": clip, "decimals": 3}


SETTINGS = {
    "one_store_backlogged": _settings(demand=_normal()),
    "one_store_lost": _settings(lost=True, demand={
        "sample_across_stores": False, "expand": True, "mean": 6.0,
        "distribution": "poisson", "clip": True, "decimals": 3}),
    "serial": _settings(n_warehouses=1, n_echelons=2, demand=_normal(5.0, 1.5),
                        warehouse={"holding_cost": 0.4, "lead_time": 2},
                        echelon={"holding_cost": [0.05, 0.15], "lead_time": [3, 1]}),
    "transshipment": _settings(n_stores=4, n_warehouses=1,
                               demand=_sampled_demand(0.25, clip=False),
                               warehouse={"holding_cost": 0.6, "lead_time": 2}),
    "one_warehouse": _settings(
        n_stores=4, n_warehouses=1, lost=True, demand=_sampled_demand(0.3, clip=True),
        lead_time={"sample_across_stores": True, "vary_across_samples": False,
                   "expand": False, "range": [2, 5]},
        holding={"sample_across_stores": True, "vary_across_samples": False,
                 "range": [0.7, 1.3]},
        underage={"sample_across_stores": True, "vary_across_samples": False,
                  "range": [6.3, 11.7]},
        warehouse={"holding_cost": 0.2, "lead_time": 4}),
}
ACT = {"master": "relu"}
HYPER = {
    "one_store_backlogged": [
        _hyper("vanilla_one_store", {"master": [8, 8]}, inner_layer_activations=ACT),
        _hyper("base_stock", {"master": []}, output_sizes={"master": 1})],
    "one_store_lost": [
        _hyper("vanilla_one_store", {"master": [8]}),
        _hyper("capped_base_stock", {"master": []})],
    "serial": [
        _hyper("vanilla_serial", {"master": [8, 4]}, inner_layer_activations=ACT,
               warehouse_upper_bound_mult=4),
        _hyper("echelon_stock", {"master": []})],
    "transshipment": [
        _hyper("vanilla_transshipment", {"master": [16]}, warehouse_upper_bound_mult=4)],
    "one_warehouse": [
        _hyper("symmetry_aware", {"context": [8], "store": [4, 4], "warehouse": [4]},
               inner_layer_activations={"context": "elu", "store": "elu", "warehouse": "elu"},
               output_sizes={"context": 6, "store": 1, "warehouse": 1}),
        _hyper("vanilla_one_warehouse", {"master": [16, 16]})],
}
EXPECTED_PROBLEM = {
    "one_store_backlogged": dict(lead_time=3, holding_cost=1.5, underage_cost=7.0,
                                 demand_mean=4.0, demand_std=1.2, inventory_periods=3),
    "one_store_lost": dict(lead_time=3, holding_cost=1.5, underage_cost=7.0,
                           demand_mean=6.0, inventory_periods=3),
    "serial": dict(lead_time=3, holding_cost=1.5, underage_cost=7.0, demand_mean=5.0,
                   demand_std=1.5, inventory_periods=3, upstream_lead_times=[3, 1, 2],
                   upstream_holding_costs=[0.05, 0.15, 0.4]),
    "transshipment": dict(n_stores=4, lead_time=3, holding_cost=1.5, underage_cost=7.0,
                          correlation=0.25, warehouse_lead_time=2,
                          warehouse_holding_cost=0.6, inventory_periods=3),
    "one_warehouse": dict(n_stores=4, lead_time_choices=[2, 3, 4], correlation=0.3,
                          warehouse_lead_time=4, warehouse_holding_cost=0.2,
                          inventory_periods=3, maximize_profit=False),
}
EXPECTED_POLICY = {
    "vanilla_one_store": {"name": "vanilla"},
    "vanilla_serial": {"name": "vanilla", "hidden": [8, 4], "activation": "relu"},
    "vanilla_transshipment": {"name": "vanilla", "hidden": [16]},
    "vanilla_one_warehouse": {"name": "vanilla", "hidden": [16, 16]},
    "symmetry_aware": {"name": "symmetry_aware", "context_size": 6, "context_hidden": [8],
                       "store_hidden": [4, 4], "warehouse_hidden": [4], "activation": "elu"},
    "base_stock": {"name": "base_stock"},
    "capped_base_stock": {"name": "capped_base_stock"},
    "echelon_stock": {"name": "echelon_stock"},
}
CASES = [(s, h) for s in SETTINGS for h in range(len(HYPER[s]))]


def _write(tmp_path, settings_doc, hyper_doc):
    s, h = tmp_path / "setting.yml", tmp_path / "hyper.yml"
    s.write_text(yaml.safe_dump(settings_doc))
    h.write_text(yaml.safe_dump(hyper_doc))
    return s, h


@pytest.mark.parametrize("setting,which", CASES)
def test_load_maps_every_field_and_builds(tmp_path, setting, which):
    hyper = HYPER[setting][which]
    config = authors_config.load(*_write(tmp_path, SETTINGS[setting], hyper))
    assert config["setting"] == setting
    assert config["problem"] == EXPECTED_PROBLEM[setting]
    nn_name = hyper["nn_params"]["name"]
    expected_policy = EXPECTED_POLICY[nn_name]
    if nn_name == "vanilla_one_store":
        expected_policy = {**expected_policy,
                           "hidden": hyper["nn_params"]["neurons_per_hidden_layer"]["master"]}
        if "inner_layer_activations" in hyper["nn_params"]:
            expected_policy["activation"] = "relu"
    assert config["policy"] == expected_policy
    assert config["trainer"] == {
        "learning_rate": 0.002, "epochs": 7, "eval_every": 2, "batch_size": 32,
        "train": [64, 20, 10], "dev": [48, 30, 12], "test": [16, 40, 20]}
    assert config["seed"] == 17

    module = NEURAL.get(config["policy"]["name"])
    if module is not None and importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} not importable yet")
    problem, policy, trainer = run_config.build(config)
    assert problem.structure.name == setting
    assert policy is not None
    assert trainer.batch_size == 32 and trainer.train == (64, 20, 10)
    assert trainer.learning_rate == 0.002 and trainer.epochs == 7 and trainer.eval_every == 2


def test_single_store_under_warehouse_is_serial_or_transshipment():
    doc = _settings(n_warehouses=1, demand=_normal(), warehouse={"holding_cost": 0.5,
                                                                 "lead_time": 2})
    serial = authors_config.convert(doc, _hyper("echelon_stock", {"master": []}))
    assert serial["setting"] == "serial"
    assert serial["problem"]["upstream_lead_times"] == [2]
    doc["store_params"]["demand"] = _sampled_demand(0.0, clip=False)
    trans = authors_config.convert(doc, _hyper("vanilla_transshipment", {"master": [4]}))
    assert trans["setting"] == "transshipment"


def test_unsupported_nn_name_lists_supported(tmp_path):
    paths = _write(tmp_path, SETTINGS["one_store_lost"], _hyper("gnn", {"master": [4]}))
    with pytest.raises(ValueError, match="nn_params.name") as info:
        authors_config.load(*paths)
    for name in authors_config.POLICY_NAMES:
        assert name in str(info.value)


def _modified(setting, edit):
    doc = yaml.safe_load(yaml.safe_dump(SETTINGS[setting]))
    edit(doc)
    return doc


@pytest.mark.parametrize("setting,edit,match", [
    ("one_store_lost", lambda d: d["sample_data_params"].update(split_by_period=True),
     "split_by_period"),
    ("one_store_lost", lambda d: d["store_params"]["demand"].update(distribution="normal"),
     "distribution"),
    ("one_store_backlogged", lambda d: d["observation_params"].update(
        include_days_to_christmas=True), "include_days_to_christmas"),
    ("one_store_backlogged", lambda d: d["problem_params"].update(maximize_profit=True),
     "maximize_profit"),
    ("one_store_backlogged", lambda d: d["problem_params"].update(n_stores=3),
     "problem_params"),
    ("one_warehouse", lambda d: d["store_params"]["underage_cost"].update(range=[1, 2]),
     "underage_cost.range"),
    ("transshipment", lambda d: d["store_params"]["demand"].update(mean_range=[1, 3]),
     "mean_range"),
    ("transshipment", lambda d: d["store_params"].update(holding_cost={
        "sample_across_stores": True, "range": [0.5, 1.0]}), "holding_cost"),
    ("serial", lambda d: d["echelon_params"].update(lead_time=[2]), "echelon_params"),
])
def test_unrepresentable_keys_raise(setting, edit, match):
    hyper = HYPER[setting][0]
    with pytest.raises(ValueError, match=match):
        authors_config.convert(_modified(setting, edit), hyper)


def test_unrepresentable_hyperparameters_raise():
    doc = SETTINGS["one_warehouse"]
    mixed = _hyper("symmetry_aware", {"context": [8], "store": [4], "warehouse": [4]},
                   inner_layer_activations={"context": "elu", "store": "relu"})
    with pytest.raises(ValueError, match="inner_layer_activations"):
        authors_config.convert(doc, mixed)
    reload = _hyper("vanilla_one_warehouse", {"master": [4]})
    reload["trainer_params"]["load_previous_model"] = True
    with pytest.raises(ValueError, match="load_previous_model"):
        authors_config.convert(doc, reload)


@pytest.mark.parametrize("setting, edit, match", [
    ("one_store_lost", lambda d: d["problem_params"].update(n_stores="two"),
     r"problem_params\.n_stores: expected an integer, got 'two'"),
    ("one_store_lost", lambda d: d["problem_params"].update(n_warehouses=[1]),
     r"problem_params\.n_warehouses: expected an integer"),
    ("one_store_lost", lambda d: d["seeds"].update(demand=1.5),
     r"seeds\.demand: expected an integer, got 1\.5"),
    ("one_store_lost", lambda d: d["store_params"]["demand"].update(mean="five"),
     r"store_params\.demand\.mean: expected a number, got 'five'"),
    ("one_store_lost", lambda d: d["params_by_dataset"]["train"].update(batch_size="all"),
     r"params_by_dataset\.train\.batch_size: expected an integer"),
    ("serial", lambda d: d["warehouse_params"].update(lead_time=True),
     r"warehouse_params\.lead_time: expected an integer, got True"),
])
def test_non_numbers_name_the_key(setting, edit, match):
    with pytest.raises(ValueError, match=match):
        authors_config.convert(_modified(setting, edit), HYPER[setting][0])


def test_non_number_hyperparameters_name_the_key():
    hyper = yaml.safe_load(yaml.safe_dump(HYPER["one_store_lost"][0]))
    hyper["optimizer_params"]["learning_rate"] = "fast"
    with pytest.raises(ValueError, match=r"optimizer_params\.learning_rate: expected a number"):
        authors_config.convert(SETTINGS["one_store_lost"], hyper)
    hyper["optimizer_params"]["learning_rate"] = "1e-3"  # YAML reads 1e-3 as a string
    assert authors_config.convert(SETTINGS["one_store_lost"], hyper)["trainer"][
        "learning_rate"] == 1e-3


def test_load_rejects_malformed_and_tagged_files(tmp_path):
    s, h = _write(tmp_path, SETTINGS["one_store_lost"], HYPER["one_store_lost"][0])
    for text, words in (("store_params: {demand: [1, 2\n", "not a valid (safe) YAML"),
                        ("a: !!python/name:os.system\n", "python/name")):
        bad = tmp_path / "bad.yml"
        bad.write_text(text)
        for args in ((bad, h), (s, bad)):
            with pytest.raises(ValueError, match=re.escape(words)) as info:
                authors_config.load(*args)
            assert str(bad) in str(info.value) and "\n" not in str(info.value)
    assert authors_config.load(s, h)["setting"] == "one_store_lost"
