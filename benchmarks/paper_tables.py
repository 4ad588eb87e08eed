"""The paper's grids (SPEC §3) trained by HDPO, each cell's gap to `invjax.optimal`.

    python -m benchmarks.paper_tables [--quick] [--only SETTING,...] [--epochs N]
                                      [--estimators hdpo,reinforce] [--out DIR]
                                      [--merge STEM,STEM --name NAME]

Cells of one structure (e.g. the four underage costs of one lead time) train as one
vmapped program (`invjax.train.grid`). Writes `paper_tables.json` (one record per cell:
setting, lead_time, underage_cost, n_stores, n_train_scenarios, policy, estimator,
test_cost, optimum, gap_pct, steps, best_dev_step, seconds, device, seed) and
`paper_tables.md`.
`--quick` shrinks the grids and every size (80 gradient steps per cell at a larger learning
rate) so the suite runs in minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import pathlib
import time
import zlib

import jax
import numpy as np
import yaml

from benchmarks import render
from invjax import optimal, settings
from invjax.device import describe
from invjax.train import run_config
from invjax.train.grid import make_grid_train
from invjax.train.hdpo import ESTIMATORS, best_dev_epoch, evaluation_epochs

RESULTS = pathlib.Path(__file__).parent / "results"
SETTINGS = render.SETTINGS
ONE_STORE = ("one_store_backlogged", "one_store_lost")
QUICK_GRID = {
    "one_store_backlogged": {"lead_time": [1, 4], "underage_cost": [4.0, 9.0, 19.0, 39.0]},
    "one_store_lost": {"lead_time": [1, 2], "underage_cost": [4.0, 9.0, 19.0, 39.0]},
    "serial": {"lead_time": [1], "underage_cost": [4.0, 39.0]},
    "transshipment": {"n_stores": [3], "lead_time": [2], "underage_cost": [4.0, 9.0],
                      "correlation": [0.5]},
    "one_warehouse": {"n_stores": [3], "n_train_scenarios": [16, 256]},
}
ONE_WAREHOUSE_TRAIN = [16, 256, 8192]
KEYS = ("row", "sequential")  # how a group's key is drawn from --seed (see `run`)
QUICK_TRAINER = {"epochs": 10, "eval_every": 5, "batch_size": 128, "patience": None,
                 "train": [1024, 30, 10], "dev": [512, 60, 20], "test": [1024, 300, 100]}
QUICK_STEPS = 80  # gradient steps per quick cell (10 epochs of the quick one-store data)
QUICK_MIN_LEARNING_RATE = 3e-2  # the small quick nets need larger steps than the paper's
QUICK_POLICY = {"hidden": [16, 16]}
QUICK_SYMMETRY_AWARE = {"context_size": 16, "context_hidden": [32], "store_hidden": [16],
                        "warehouse_hidden": [8]}


def _grid(setting: str, quick: bool, restrict=None) -> dict:
    """The setting's grid (SPEC §3, or the quick one), with the axes in `restrict`
    ({axis: [values]}) replaced; an axis the grid lacks is an error naming the axes."""
    if quick:
        grid = dict(QUICK_GRID[setting])
    else:
        grid = dict(settings.config(setting)["grid"])
        if setting == "one_warehouse":
            grid["n_train_scenarios"] = ONE_WAREHOUSE_TRAIN
    for axis, values in (restrict or {}).items():
        if axis not in grid:
            raise ValueError(f"--grid: {setting} has no axis {axis!r}; allowed: {list(grid)}")
        grid[axis] = values
    return grid


def parse_grid(items) -> dict:
    """["n_stores=5,50", ...] -> {"n_stores": [5, 50]} (numbers parsed as YAML)."""
    restrict = {}
    for item in items:
        axis, sep, values = item.partition("=")
        if not sep or not values:
            raise ValueError(f"--grid: {item!r}; expected AXIS=V1,V2,...")
        restrict[axis.strip()] = [yaml.safe_load(v) for v in values.split(",")]
    return restrict


def merged_grid(grids: list):
    """The grid restriction of several parts of one study: one {axis: values} dict where
    the parts' cells make up its full product, else the list of the parts' restrictions
    (a part merged before, whose restriction is such a list, counts as its parts)."""
    flat = []
    for grid in grids:
        for part in grid if isinstance(grid, list) else [grid]:
            if part not in flat:  # a part run again (another seed) counts once
                flat.append(part)
    if len(flat) == 1:
        return flat[0]
    if not all(isinstance(grid, dict) for grid in flat):
        return flat  # " + "-joined strings of older merges
    grids = flat
    axes = list(grids[0])
    if not axes or any(set(grid) != set(axes) for grid in grids):
        return grids
    cells = {combo for grid in grids for combo in itertools.product(*(grid[a] for a in axes))}
    union = {axis: sorted({v for grid in grids for v in grid[axis]}) for axis in axes}
    return union if len(cells) == math.prod(map(len, union.values())) else grids


def _base_config(setting: str, policy: str, quick: bool, epochs, overrides=()) -> dict:
    config = run_config.for_setting(setting, policy)
    config = run_config.validate(run_config.apply_overrides(config, list(overrides)))
    if quick:
        lr = max(float(config["trainer"].get("learning_rate", 0.0)), QUICK_MIN_LEARNING_RATE)
        config["trainer"] = {**config["trainer"], **QUICK_TRAINER, "learning_rate": lr}
        small = QUICK_SYMMETRY_AWARE if policy.startswith("symmetry") else QUICK_POLICY
        config["policy"] = {**config["policy"], **small}
    if epochs:
        config["trainer"] = {**config["trainer"], "epochs": int(epochs)}
    return config


def _groups(setting: str, grid: dict):
    """Cells as (shared overrides, [per-cell overrides]); cells differ only in params."""
    keys = [k for k in grid if k not in ("underage_cost", "n_train_scenarios")]
    inner = grid.get("underage_cost", [None])
    for values in itertools.product(*(grid[k] for k in keys)):
        shared = dict(zip(keys, values))
        cells = [{"underage_cost": p} if p is not None else {} for p in inner]
        for n_train in grid.get("n_train_scenarios", [None]):
            yield shared, cells, n_train


def _group_trainer(trainer: dict, setting: str, n_train, steps) -> dict:
    """The group's trainer fields: `n_train` training scenarios, epochs from `steps`."""
    trainer = dict(trainer)
    train = list(trainer.get("train") or settings.config(setting)["data"]["train"])
    if n_train is not None:
        train[0] = n_train
        trainer["train"] = train
        trainer["batch_size"] = min(int(trainer["batch_size"]), n_train)
    if steps:
        per_epoch = int(train[0]) // int(trainer["batch_size"])
        trainer["epochs"] = max(1, -(-int(steps) // per_epoch))
        trainer["eval_every"] = max(1, trainer["epochs"] // 10)
    return trainer


def _cell_record(problem, train_config, cost: float, epochs: int, common: dict) -> dict:
    """One cell's result row: its problem, horizons, test cost and gap to the optimum."""
    known = optimal.known(problem)
    optimum = None if known is None else known.cost
    p = problem.params
    return {
        "setting": common["setting"],
        "lead_time": int(np.asarray(p.lead_time).max()),
        "underage_cost": float(np.asarray(p.underage_cost).mean()),
        "n_stores": problem.structure.n_stores,
        **({"correlation": float(common["correlation"])} if "correlation" in common else {}),
        "n_train_scenarios": train_config.train.n,
        "horizons": {s: list(getattr(train_config, s)) for s in ("train", "dev", "test")},
        "policy": common["policy"],
        "estimator": common["estimator"],
        "test_cost": cost,
        "optimum": optimum,
        "optimum_is_bound": bool(known and known.is_bound),
        "gap_pct": None if optimum is None else 100.0 * (cost / optimum - 1.0),
        "steps": epochs * train_config.steps_per_epoch,
        "seconds": common["seconds"],
        "cells_in_program": common["cells_in_program"],
        "device": common["device"],
    }


def best_dev_steps(dev_cost: np.ndarray, config) -> list:
    """Per cell, the gradient steps done when the parameters it is tested with (its best
    dev cost) were seen; None for a cell never evaluated. `dev_cost`: [cells, evaluations],
    one per `hdpo.evaluation_epochs`."""
    epochs = evaluation_epochs(config)
    best = [best_dev_epoch(costs, epochs) for costs in dev_cost]
    return [None if epoch is None else epoch * config.steps_per_epoch for epoch in best]


def run_group(setting, policy, estimator, shared, cells, n_train, quick, epochs, key,
              overrides=(), steps=None):
    """Trains one same-structure group of cells in one program; returns their records.

    `steps`: a gradient-step budget instead of an epoch count (epochs = steps / steps per
    epoch, ten dev evaluations), so that cells with few and many training scenarios get
    the same number of steps."""
    if quick and not steps and not epochs:
        steps = QUICK_STEPS  # so that cells with 16 training scenarios train too
    config = _base_config(setting, policy, quick, epochs, overrides)
    config["problem"] = {**config["problem"], **shared}
    config["trainer"] = _group_trainer(config["trainer"], setting, n_train, steps)
    problems, train_config = [], None
    for cell in cells:
        cell_config = {**config, "problem": {**config["problem"], **cell}}
        problem, net, train_config = run_config.build(cell_config)
        problems.append(problem)
    train_config = dataclasses.replace(train_config, estimator=estimator)
    start = time.perf_counter()
    grid = make_grid_train(problems, net, train_config)
    k_train, k_test = jax.random.split(key)
    state, metrics = jax.jit(grid.train)(k_train)
    best_steps = best_dev_steps(np.asarray(metrics.dev_cost), train_config)
    finite = np.isfinite(np.asarray(state.best_dev))  # cells evaluated at least once
    params = jax.tree.map(
        lambda best, last: np.where(finite.reshape((-1,) + (1,) * (best.ndim - 1)), best, last),
        state.best_params, state.params)
    costs = np.asarray(grid.test_cost(params, k_test))
    seconds = (time.perf_counter() - start) / len(cells)
    common = {"setting": setting, "policy": policy, "estimator": estimator,
              "seconds": seconds, "cells_in_program": len(cells), "device": describe(),
              **({"correlation": shared["correlation"]} if "correlation" in shared else {})}
    return [{**_cell_record(problem, train_config, float(cost), int(epoch), common),
             "best_dev_step": best}
            for problem, cost, epoch, best in zip(problems, costs, np.asarray(state.epoch),
                                                  best_steps)]


def _policies(setting: str) -> list[str]:
    if setting == "one_warehouse":
        return ["symmetry_aware", "vanilla"]
    return ["vanilla"]


def row_key(seed: int, setting: str, shared: dict) -> jax.Array:
    """A group's key, from `seed` and its row (setting and shared axes) alone: not from its
    policy, estimator or training size, nor from the groups run before it. So every policy,
    estimator and training size of a row trains on draws of one key and is tested on the
    same scenarios, and a cell re-run alone (`--grid`) repeats its number (to float
    rounding where its group had more cells)."""
    row = json.dumps([setting, sorted((axis, float(value) if isinstance(value, (int, float))
                                       else str(value)) for axis, value in shared.items())])
    return jax.random.fold_in(jax.random.key(seed), zlib.crc32(row.encode()) & 0x7FFFFFFF)


def run(only=SETTINGS, quick=False, epochs=None, estimators=("hdpo",), seed=0, log=print,
        overrides=(), restrict=None, policies=None, steps=None, on_records=None, keys="row"):
    """Every group of every setting; `on_records(records so far)` after each group.

    `keys`: "row" (`row_key`), or "sequential", how tables before row keys drew them:
    one split of `seed`'s key per group, in run order."""
    if keys not in KEYS:
        raise ValueError(f"keys: {keys!r}; allowed: {list(KEYS)}")
    records = []
    sequence = jax.random.key(seed)
    for setting in only:
        for policy in policies or _policies(setting):
            for estimator in estimators:
                if estimator != "hdpo" and setting not in ONE_STORE:
                    continue  # the score-function baseline runs on the one-store grids
                grid = _grid(setting, quick, restrict)
                for shared, cells, n_train in _groups(setting, grid):
                    if keys == "row":
                        k_group = row_key(seed, setting, shared)
                    else:
                        sequence, k_group = jax.random.split(sequence)
                    group = run_group(setting, policy, estimator, shared, cells, n_train,
                                      quick, epochs, k_group, overrides, steps)
                    group = [{**r, "seed": seed} for r in group]
                    for r in group:
                        gap = "" if r["gap_pct"] is None else f" gap {r['gap_pct']:+.2f}%"
                        log(f"{setting} {policy} {estimator} {shared} p={r['underage_cost']:g}"
                            f" n_train={r['n_train_scenarios']}: {r['test_cost']:.4f}{gap}"
                            f" ({r['steps']} steps, {r['seconds']:.1f} s)")
                    records += group
                    if on_records is not None:
                        on_records(records)
    return records


def _rewrite(parser, args, out: pathlib.Path) -> None:
    """--rewrite / --merge: NAME.json and .md from the parts' JSON files in `out`."""
    stems = args.merge.split(",") if args.merge else [args.name]
    missing = [stem for stem in stems if not (out / f"{stem}.json").is_file()]
    if missing:
        parser.error(f"--merge/--name: no {', '.join(m + '.json' for m in missing)} in {out}")
    parts = [json.loads((out / f"{stem}.json").read_text()) for stem in stems]
    meta = {**parts[0]["meta"], **({"note": args.note} if args.note else {})}
    if len(parts) > 1:
        meta["grid"] = merged_grid([part["meta"]["grid"] for part in parts])
        meta["keys"] = " + ".join(dict.fromkeys(render.keys(part["meta"]) for part in parts))
    render.write(out, args.name, meta, [cell for part in parts for cell in part["cells"]])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grids and sizes")
    parser.add_argument("--only", default=",".join(SETTINGS), help="comma-separated settings")
    parser.add_argument("--epochs", type=int, help="override every cell's epoch budget")
    parser.add_argument("--steps", type=int,
                        help="a gradient-step budget per cell instead of epochs")
    parser.add_argument("--estimators", default="hdpo",
                        help=f"comma-separated, from {list(ESTIMATORS)}")
    parser.add_argument("--seed", type=int, default=0,
                        help="key of the training data, initial parameters and test "
                             "scenarios (the instance comes from problem.seed)")
    parser.add_argument("--keys", choices=KEYS, default="row",
                        help="row: a group's key from --seed and its row alone; sequential: "
                             "one split per group in run order (tables before row keys)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override every cell's run config, e.g. trainer.schedule=cosine")
    parser.add_argument("--grid", action="append", default=[], metavar="AXIS=V1,V2",
                        help="run only these values of a grid axis, e.g. n_stores=5")
    parser.add_argument("--policies", help="comma-separated (default: the setting's)")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--name", default="paper_tables", help="output file stem")
    parser.add_argument("--note", default="", help="a paragraph for the Markdown header")
    parser.add_argument("--rewrite", action="store_true",
                        help="only re-render NAME.md from NAME.json in --out (with --note)")
    parser.add_argument("--merge", metavar="STEM,STEM",
                        help="only join these JSON files of --out into NAME (parts of one "
                             "study run in several processes); the first one's meta, "
                             "with the parts' grid restrictions joined")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    if args.rewrite or args.merge:
        _rewrite(parser, args, out)
        return
    only = [s for s in args.only.split(",") if s]
    for s in only:
        if s not in SETTINGS:
            parser.error(f"--only: unknown setting {s!r}; allowed: {list(SETTINGS)}")
    estimators = [e for e in args.estimators.split(",") if e]
    for e in estimators:
        if e not in ESTIMATORS:
            parser.error(f"--estimators: unknown {e!r}; allowed: {list(ESTIMATORS)}")
    try:
        restrict = parse_grid(args.grid)
        for s in only:
            _grid(s, args.quick, restrict)
    except ValueError as error:
        parser.error(str(error))
    policies = [p for p in (args.policies or "").split(",") if p] or None
    out.mkdir(parents=True, exist_ok=True)
    meta = {"quick": args.quick, "epochs_override": args.epochs, "steps": args.steps,
            "overrides": args.set, "grid": restrict, "device": describe(),
            "jax": jax.__version__, "keys": args.keys, "note": args.note}
    write = lambda records: render.write(out, args.name, meta, records)  # noqa: E731
    records = run(only, args.quick, args.epochs, estimators, args.seed, overrides=args.set,
                  restrict=restrict, policies=policies, steps=args.steps, on_records=write,
                  keys=args.keys)
    write(records)
    print(f"wrote {out / args.name}.json and .md ({len(records)} cells)")


if __name__ == "__main__":
    main()
