"""The networks of SPEC §7 trained by HDPO: cost, steps and time per cell.

    python -m benchmarks.networks [--only GROUP ...] [--steps N] [--quick] [--out DIR]

Groups (issue 12's targets):
  - many_warehouses: the authors' 2 x 10 network at 8,192 training scenarios; vanilla
    and symmetry-aware nets against the base-stock-allocation heuristic (no optimum is
    known: each cell's excess over the best policy of the network);
  - serial_chains: chains of 3 to 7 stages (vanilla net) against Clark-Scarf;
  - independent_stores: 50 identical Poisson(5) stores at 128 training scenarios, the
    weight-shared store net (and the vanilla net) against the optimum 6.53.

Every cell trains one seed for a fixed number of gradient steps (dev-best parameters,
ten dev evaluations), then is tested on fresh scenarios. Writes `NAME.json` (one
record per cell: group, setting, options, policy, train scenarios, test cost, optimum,
gap or excess, steps, seconds, device) and `NAME.md`, after every cell.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import pathlib
import time

import jax
import numpy as np

from invjax import optimal, policies, settings
from invjax.device import describe
from invjax.scenarios import sample
from invjax.train import TrainConfig, make_train
from invjax.train.horizons import safe_horizons

RESULTS = pathlib.Path(__file__).parent / "results"
SA = {"context_size": 256, "context_hidden": [256], "store_hidden": [32, 32],
      "warehouse_hidden": [16, 16]}


@dataclasses.dataclass(frozen=True)
class Cell:
    group: str
    setting: str
    options: tuple  # settings.make overrides
    policy: str
    policy_options: tuple = ()
    learning_rate: float = 1e-3
    n_train: int = 8192
    batch: int = 1024
    periods: tuple | None = (50, 30)  # train (periods, warm-up), dev doubles both;
    # None: invjax.train.horizons derives train and dev from the network
    test: tuple = (4096, 2000, 500)


def cells(quick: bool) -> list[Cell]:
    mw = (("n_warehouses", 2), ("n_stores", 10))
    out = [
        Cell("many_warehouses", "many_warehouses", mw, "base_stock_allocation",
             learning_rate=0.5),
        Cell("many_warehouses", "many_warehouses", mw, "vanilla",
             (("hidden", (512, 512, 512)),), 3e-4),
        Cell("many_warehouses", "many_warehouses", mw, "symmetry_aware",
             tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in SA.items()), 1e-3),
    ]
    out += [Cell("serial_chains", "serial_chain", (("n_stages", k),), "vanilla",
                 (("hidden", (32, 32)),), 1e-2, 32768, 1024, None, (16384, 5000, 3000))
            for k in range(3, 8)]
    out += [
        Cell("independent_stores", "independent_stores", (("n_stores", 50),), "symmetry_aware",
             (("context_size", 16), ("context_hidden", (32,)), ("store_hidden", (32, 32)),
              ("warehouse_hidden", (16,))), 3e-3, 128, 128, test=(1024, 2000, 500)),
        Cell("independent_stores", "independent_stores", (("n_stores", 50),), "vanilla",
             (("hidden", (256, 256)),), 1e-3, 128, 128, test=(1024, 2000, 500)),
    ]
    if quick:
        out = [dataclasses.replace(c, n_train=min(c.n_train, 256), batch=min(c.batch, 128),
                                   test=(256, 200, 50), policy_options=())
               for c in out[:1] + out[3:4] + out[-2:-1]]
    return out


def horizons(problem, cell: Cell) -> dict:
    """Train and dev horizons: the cell's, or derived from the network."""
    if cell.periods is None:
        derived = safe_horizons(problem.structure, {"train": (cell.n_train, 50, 30),
                                                    "dev": (cell.n_train, 100, 60)})
        return {"train": derived["train"], "dev": derived["dev"]}
    periods, ignore = cell.periods
    return {"train": (cell.n_train, periods, ignore),
            "dev": (cell.n_train, 2 * periods, 2 * ignore)}


def train_best(problem, policy, config: TrainConfig, key) -> tuple:
    """Trains with `config` on the first half of `key`. Returns (trainer, final
    TrainState, the dev-best parameters or the last ones if no dev cost was finite,
    the second half of `key` for testing)."""
    trainer = make_train(problem, policy, config)
    k_train, k_test = jax.random.split(key)
    state, _ = jax.jit(trainer.train)(k_train)
    params = state.best_params if np.isfinite(float(state.best_dev)) else state.params
    return trainer, state, params, k_test


def train_and_test(problem, policy, config: TrainConfig, key) -> tuple:
    """Trains (`train_best`), then tests the parameters on `config.test` fresh scenarios,
    sampled and evaluated in chunks of at most 4,096. Returns (final TrainState, mean
    test cost, seconds)."""
    start = time.perf_counter()
    trainer, state, params, k_test = train_best(problem, policy, config, key)
    n, periods, ignore = config.test
    chunk = min(n, 4096)
    costs = [float(trainer.evaluate(params, sample(problem, jax.random.fold_in(k_test, i),
                                                   chunk, periods, ignore)))
             for i in range(math.ceil(n / chunk))]
    return state, float(np.mean(costs)), time.perf_counter() - start


def run_cell(cell: Cell, steps: int, key) -> dict:
    problem = settings.make(cell.setting, **dict(cell.options))
    policy = policies.make(cell.policy, problem, **dict(cell.policy_options))
    per_epoch = cell.n_train // cell.batch
    epochs = max(1, math.ceil(steps / per_epoch))
    config = TrainConfig(
        learning_rate=cell.learning_rate, batch_size=cell.batch, epochs=epochs,
        eval_every=max(1, epochs // 10), test=cell.test,
        **horizons(problem, cell))
    state, cost, seconds = train_and_test(problem, policy, config, key)
    known = optimal.known(problem)
    return {
        "group": cell.group, "setting": cell.setting, "options": dict(cell.options),
        "policy": cell.policy, "n_train_scenarios": cell.n_train, "test_cost": cost,
        "optimum": None if known is None else known.cost,
        "gap_pct": None if known is None else 100.0 * (cost / known.cost - 1.0),
        "steps": int(state.epoch) * per_epoch, "seconds": seconds,
        "batch": cell.batch, "learning_rate": cell.learning_rate,
        "train": list(config.train), "dev": list(config.dev),
        "test": list(cell.test), "device": describe(),
    }


def write(out: pathlib.Path, name: str, records: list[dict], steps: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(records, indent=1))
    best = {}
    for r in records:
        key = (r["group"], json.dumps(r["options"], sort_keys=True))
        best[key] = min(best.get(key, math.inf), r["test_cost"])
    lines = [f"# Networks (SPEC §7), {steps} gradient steps per cell "
             f"({records[0]['device'] if records else ''})", "",
             "| group | network | policy | train scenarios | batch | train periods (warm-up) "
             "| test cost | optimum | gap | excess over best | steps | s |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in records:
        key = (r["group"], json.dumps(r["options"], sort_keys=True))
        excess = 100.0 * (r["test_cost"] / best[key] - 1.0)
        optimum = "-" if r["optimum"] is None else f"{r['optimum']:.4f}"
        gap = "-" if r["gap_pct"] is None else f"{r['gap_pct']:+.2f}%"
        options = ", ".join(f"{k}={v}" for k, v in r["options"].items())
        _, periods, ignore = r.get("train", (None, "-", "-"))
        lines.append(f"| {r['group']} | {options} | {r['policy']} | {r['n_train_scenarios']} "
                     f"| {r.get('batch', '-')} | {periods} ({ignore}) | {r['test_cost']:.4f} | {optimum} | {gap} | {excess:+.2f}% "
                     f"| {r['steps']} | {r['seconds']:.0f}{_note(r)} |")
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")


def _note(record: dict) -> str:
    """A record's "note" (e.g. the CPU was shared), shown beside its seconds."""
    return f" ({record['note']})" if record.get("note") else ""


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="groups (or policies) to run")
    parser.add_argument("--steps", type=int, default=1000, help="gradient steps per cell")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a smoke run")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--name", default="networks")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    chosen = [c for c in cells(args.quick)
              if not args.only or c.group in args.only or c.policy in args.only]
    records = []
    key = jax.random.key(0)
    out = pathlib.Path(args.out)
    for cell in chosen:
        key, k_cell = jax.random.split(key)
        record = run_cell(cell, args.steps, k_cell)
        records.append(record)
        gap = "" if record["gap_pct"] is None else f" gap {record['gap_pct']:+.2f}%"
        print(f"{cell.group} {dict(cell.options)} {cell.policy}: {record['test_cost']:.4f}"
              f"{gap} ({record['steps']} steps, {record['seconds']:.0f} s)", flush=True)
        write(out, args.name, records, args.steps)


if __name__ == "__main__":
    main()
