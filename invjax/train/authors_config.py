"""Run configurations from the YAML files of the authors' PyTorch code.

The reference implementation (github MatiasAlvo/Neural_inventory_control) reads a
settings file (`config_files/settings/*.yml`) and a hyperparameters file
(`config_files/policies_and_hyperparams/*.yml`). `load` turns such a pair into an invjax
run configuration (see `invjax.train.run_config`):

    config = authors_config.load("one_store_lost.yml", "vanilla_one_store.yml")
    problem, policy, trainer = run_config.build(config)

Setting, from `problem_params` (and `nn_params.name` for one store under one warehouse):
  - 0 warehouses, 1 store: `one_store_lost` (Poisson) or `one_store_backlogged` (normal);
  - 1 warehouse, 1 store, backlogged, echelons or a serial/heuristic policy: `serial`;
  - 1 warehouse, no echelons: `one_warehouse` (lost) or `transshipment` (backlogged).

Ignored (no effect on an invjax run): `test_seeds`, every seed but `seeds.demand`,
`observation_params` static features and `include_warehouse_inventory`, demand
`decimals`/`expand`, dev/test `batch_size`, the print/save/checkpoint keys of
`trainer_params`, and `nn_params` output activations, `initial_bias`, `output_sizes`
(but the symmetry-aware context size). The per-store means and cvs of multi-store
settings are drawn by invjax's own generator (`problem.seed`), not by the authors' seeds.

Rejected with a ValueError naming the key: real-data settings (`split_by_period`, other
distributions), time/sample features, past-demand observations, sampled costs or lead
times invjax does not draw, ranges other than invjax's fixed draws, `maximize_profit`
outside one_warehouse, reloading PyTorch checkpoints, and unknown `nn_params.name`.
"""

from __future__ import annotations

from typing import Any

from invjax.settings.user_network import read_yaml

POLICY_NAMES = {
    "vanilla_one_store": "vanilla",
    "vanilla_serial": "vanilla",
    "vanilla_transshipment": "vanilla",
    "vanilla_one_warehouse": "vanilla",
    "symmetry_aware": "symmetry_aware",
    "base_stock": "base_stock",
    "capped_base_stock": "capped_base_stock",
    "echelon_stock": "echelon_stock",
}
# invjax's fixed per-store draws for multi-store settings (invjax.settings, SPEC §3).
DRAWS = {
    "demand.mean_range": [2.5, 7.5],
    "demand.coef_of_var_range": [0.25, 0.5],
    "holding_cost.range": [0.7, 1.3],
    "underage_cost.range": [6.3, 11.7],
}
STORE_KEYS = ("demand", "lead_time", "holding_cost", "underage_cost", "initial_inventory")
_MULTI = ("transshipment", "one_warehouse")
_TRANSSHIPMENT_HINTS = ("vanilla_transshipment", "symmetry_aware")


def load(settings_path, hyperparams_path) -> dict[str, Any]:
    """Reads an authors' settings file and hyperparameters file.

    Args:
      settings_path: a file laid out like `config_files/settings/*.yml`.
      hyperparams_path: a file like `config_files/policies_and_hyperparams/*.yml`.

    Returns:
      An invjax run configuration: {setting, problem, policy, trainer, seed}.

    Raises:
      ValueError: a key or value invjax cannot represent (module docstring).
    """
    if not settings_path or not hyperparams_path:
        raise ValueError("--authors-settings and --authors-hyperparams: both files are "
                         "needed (a settings file and a hyperparameters file)")
    return convert(read_yaml(settings_path), read_yaml(hyperparams_path))


def convert(setting_doc: dict, hyper_doc: dict) -> dict[str, Any]:
    """`load` on already-parsed documents."""
    nn_params = _get(hyper_doc, "nn_params")
    name = _get(nn_params, "name", "nn_params")
    if name not in POLICY_NAMES:
        raise ValueError(
            f"nn_params.name: {name!r} is not supported; supported: {sorted(POLICY_NAMES)}"
        )
    if (setting_doc.get("sample_data_params") or {}).get("split_by_period"):
        raise ValueError("sample_data_params.split_by_period: real-data settings are not "
                         "supported; invjax samples synthetic demand")
    _check_observation(setting_doc.get("observation_params") or {})
    problem_params = _get(setting_doc, "problem_params")
    setting = _setting(problem_params, name)
    problem = _problem(setting, setting_doc, problem_params)
    seeds = _get(setting_doc, "seeds")
    return {
        "setting": setting,
        "problem": problem,
        "policy": _policy(POLICY_NAMES[name], nn_params),
        "trainer": _trainer(_get(setting_doc, "params_by_dataset"), hyper_doc),
        "seed": _get(seeds, "demand", "seeds", int),
    }


def _get(doc: dict, key: str, where: str = "", kind=None):
    """doc[key], converted by `kind` (int or float) when given; errors name the key."""
    path = f"{where}.{key}" if where else key
    if not isinstance(doc, dict) or doc.get(key) is None:
        raise ValueError(f"{path}: missing")
    return doc[key] if kind is None else _as(kind, doc[key], path)


def _optional(doc: dict, key: str, where: str, default, kind):
    """doc.get(key, default), converted by `kind`; errors name the key."""
    return _as(kind, doc.get(key, default), f"{where}.{key}")


def _as(kind, value, path: str):
    if isinstance(value, bool) and kind is not bool or isinstance(value, (dict, list)):
        raise ValueError(f"{path}: expected a{'n integer' if kind is int else ' number'}, "
                         f"got {value!r}")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: expected a{'n integer' if kind is int else ' number'}, "
                         f"got {value!r}") from None
    if kind is int and number != float(value):
        raise ValueError(f"{path}: expected an integer, got {value!r}")
    return number


def _setting(pp: dict, nn_name: str) -> str:
    n_stores = _get(pp, "n_stores", "problem_params", int)
    n_w = _optional(pp, "n_warehouses", "problem_params", 0, int)
    n_e = _optional(pp, "n_extra_echelons", "problem_params", 0, int)
    lost = bool(pp.get("lost_demand", False))
    setting = None
    if n_w == 0 and n_e == 0 and n_stores == 1:
        setting = "one_store_lost" if lost else "one_store_backlogged"
    elif n_w == 1 and n_stores == 1 and not lost and (
            n_e > 0 or nn_name not in _TRANSSHIPMENT_HINTS):
        setting = "serial"
    elif n_w == 1 and n_e == 0:
        setting = "one_warehouse" if lost else "transshipment"
    if setting is None:
        raise ValueError(
            f"problem_params: n_stores={n_stores}, n_warehouses={n_w}, n_extra_echelons="
            f"{n_e}, lost_demand={lost} has no invjax setting; supported: 1 store without "
            "warehouse (one_store_lost/one_store_backlogged), 1 backlogged store under 1 "
            "warehouse and echelons (serial), stores under 1 warehouse without echelons "
            "(one_warehouse if lost, transshipment if backlogged)")
    if pp.get("maximize_profit") and setting != "one_warehouse":
        raise ValueError(f"problem_params.maximize_profit: supported only in one_warehouse, "
                         f"not {setting}")
    return setting


def _check_observation(obs: dict) -> None:
    bad = [k for k in ("time_features", "sample_features", "include_days_to_christmas")
           if obs.get(k)]
    bad += ["demand.past_periods"] if (obs.get("demand") or {}).get("past_periods") else []
    bad += [f"include_past_observations.{k}"
            for k, v in (obs.get("include_past_observations") or {}).items() if v]
    if bad:
        raise ValueError(f"observation_params.{bad[0]}: not supported (invjax policies "
                         "observe the inventory state only; set it false/0)")


def _fixed(store: dict, key: str, setting: str):
    p = _get(store, key, "store_params")
    if p.get("sample_across_stores") or p.get("vary_across_samples") or "value" not in p:
        raise ValueError(f"store_params.{key}: {setting} supports one fixed 'value' "
                         "(sample_across_stores and vary_across_samples false)")
    return p["value"]


def _drawn(store: dict, key: str, field: str, setting: str) -> None:
    p = _get(store, key, "store_params")
    want = DRAWS[f"{key}.{field}"]
    got = p.get(field)
    if not p.get("sample_across_stores", True) or got is None or [float(x) for x in got] != want:
        raise ValueError(f"store_params.{key}.{field}: {setting} draws it per store from "
                         f"U{want} (sample_across_stores true); got {got!r}")


def _demand(d: dict, setting: str) -> dict:
    want = "poisson" if setting == "one_store_lost" else "normal"
    if d.get("distribution") != want:
        raise ValueError(f"store_params.demand.distribution: {setting} supports {want!r}, "
                         f"got {d.get('distribution')!r}")
    if want == "normal" and bool(d.get("clip", True)) != (setting != "transshipment"):
        raise ValueError(f"store_params.demand.clip: {setting} supports only "
                         f"{setting != 'transshipment'}")
    if setting in _MULTI:
        for field in ("mean_range", "coef_of_var_range"):
            _drawn({"demand": d}, "demand", field, setting)
        return {"correlation": float(d.get("correlation", 0.0) or 0.0)}
    if d.get("sample_across_stores"):
        raise ValueError(f"store_params.demand.sample_across_stores: {setting} has one store")
    out = {"demand_mean": _get(d, "mean", "store_params.demand", float)}
    if want == "normal":
        out["demand_std"] = _get(d, "std", "store_params.demand", float)
    return out


def _problem(setting: str, doc: dict, pp: dict) -> dict:
    store = _get(doc, "store_params")
    unknown = set(store) - set(STORE_KEYS)
    if unknown:
        raise ValueError(f"store_params: unsupported key(s) {sorted(unknown)}; "
                         f"supported: {list(STORE_KEYS)}")
    init = _get(store, "initial_inventory", "store_params")
    if not init.get("sample", True) or [float(x) for x in init.get("range_mult", [0, 1])] != [0, 1]:
        raise ValueError("store_params.initial_inventory: invjax samples it with "
                         "sample true and range_mult [0, 1]")
    out = {"inventory_periods": _get(init, "inventory_periods",
                                         "store_params.initial_inventory", int)}
    out.update(_demand(_get(store, "demand", "store_params"), setting))
    if setting == "one_warehouse":
        lead = _get(store, "lead_time", "store_params")
        if lead.get("sample_across_stores") and not lead.get("vary_across_samples"):
            low, high = _get(lead, "range", "store_params.lead_time")
            out["lead_time_choices"] = list(range(int(low), int(high)))  # high excluded
        else:
            out["lead_time_choices"] = [int(_fixed(store, "lead_time", setting))]
        _drawn(store, "holding_cost", "range", setting)
        _drawn(store, "underage_cost", "range", setting)
        out["maximize_profit"] = bool(pp.get("maximize_profit", False))
    else:
        out["lead_time"] = int(_fixed(store, "lead_time", setting))
        out["holding_cost"] = float(_fixed(store, "holding_cost", setting))
        out["underage_cost"] = float(_fixed(store, "underage_cost", setting))
    if setting in _MULTI:
        out["n_stores"] = int(pp["n_stores"])
    if setting in _MULTI or setting == "serial":
        warehouse = _get(doc, "warehouse_params")
        unknown = set(warehouse) - {"holding_cost", "lead_time"}
        if unknown:
            raise ValueError(f"warehouse_params: unsupported key(s) {sorted(unknown)}; "
                             "supported: ['holding_cost', 'lead_time']")
        holding = _get(warehouse, "holding_cost", "warehouse_params", float)
        lead_time = _get(warehouse, "lead_time", "warehouse_params", int)
        if setting == "serial":
            out.update(_upstream(doc.get("echelon_params") or {}, pp, lead_time, holding))
        else:
            out.update(warehouse_lead_time=lead_time, warehouse_holding_cost=holding)
    return out


def _upstream(echelon: dict, pp: dict, lead_time: int, holding: float) -> dict:
    """Echelons (upstream first, as in the authors' files), then the warehouse."""
    n_e = _optional(pp, "n_extra_echelons", "problem_params", 0, int)
    leads = [int(x) for x in (echelon.get("lead_time") or [])]
    costs = [float(x) for x in (echelon.get("holding_cost") or [])]
    if len(leads) != n_e or len(costs) != n_e:
        raise ValueError(f"echelon_params: lead_time and holding_cost need n_extra_echelons"
                         f"={n_e} entries, got {len(leads)} and {len(costs)}")
    return {"upstream_lead_times": leads + [lead_time],
            "upstream_holding_costs": costs + [holding]}


def _activation(nn: dict, nets: tuple[str, ...]) -> dict:
    acts = {(nn.get("inner_layer_activations") or {}).get(net) for net in nets} - {None}
    if len(acts) > 1:
        raise ValueError(f"nn_params.inner_layer_activations: invjax uses one activation "
                         f"for {list(nets)}, got {sorted(acts)}")
    return {"activation": acts.pop()} if acts else {}


def _policy(name: str, nn: dict) -> dict:
    mult = nn.get("warehouse_upper_bound_mult")
    if mult is not None and float(mult) != 4.0:
        raise ValueError(f"nn_params.warehouse_upper_bound_mult: invjax fixes it at 4, got {mult}")
    layers = nn.get("neurons_per_hidden_layer") or {}
    if name == "vanilla":
        return {"name": name, "hidden": [int(x) for x in layers.get("master") or []],
                **_activation(nn, ("master",))}
    if name == "symmetry_aware":
        nets = ("context", "store", "warehouse")
        out = {"name": name, **{f"{net}_hidden": [int(x) for x in layers.get(net) or []]
                                for net in nets}, **_activation(nn, nets)}
        context_size = (nn.get("output_sizes") or {}).get("context")
        if context_size is not None:
            out["context_size"] = int(context_size)
        return out
    return {"name": name}


def _trainer(by_dataset: dict, hyper: dict) -> dict:
    tp = _get(hyper, "trainer_params")
    if tp.get("load_previous_model"):
        raise ValueError("trainer_params.load_previous_model: PyTorch checkpoints cannot be "
                         "loaded; set it to false")
    if tp.get("choose_best_model_on", "dev_loss") != "dev_loss":
        raise ValueError(f"trainer_params.choose_best_model_on: invjax supports 'dev_loss', "
                         f"got {tp['choose_best_model_on']!r}")
    optimizer = _get(hyper, "optimizer_params")
    out = {"learning_rate": _get(optimizer, "learning_rate", "optimizer_params", float),
           "epochs": _get(tp, "epochs", "trainer_params", int),
           "eval_every": _optional(tp, "do_dev_every_n_epochs", "trainer_params", 1, int)}
    for split in ("train", "dev", "test"):
        p = _get(by_dataset, split, "params_by_dataset")
        where = f"params_by_dataset.{split}"
        out[split] = [_get(p, k, where, int) for k in ("n_samples", "periods", "ignore_periods")]
    out["batch_size"] = _get(by_dataset["train"], "batch_size", "params_by_dataset.train", int)
    return out
