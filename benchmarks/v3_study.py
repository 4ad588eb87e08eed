"""The v3 sample-efficiency study (SPEC §9): the GNN against the vanilla net (and the
symmetry-aware net where it applies) at 128 / 1,024 / 8,192 training scenarios, on every
network family the authors ran.

    python -m benchmarks.v3_study [--only FAMILY ...] [--sizes N ...] [--scenarios N ...]
                                  [--policies NAME ...] [--steps N] [--test N T WARM]
                                  [--quick] [--out DIR] [--name NAME]
                                  [--set trainer_field=value ...] [--seed N]

Every cell starts from the shipped run configuration of (setting, policy)
(`invjax/configs/`: the paper's nets, learning rates and clipping), trains
`--steps` gradient steps at batch min(1,024, scenarios) on as many training as dev
scenarios (SPEC §9), with horizons derived from the network (`invjax.train.horizons`),
keeps the dev-best parameters (20 dev evaluations) and is tested on fresh scenarios
(default 8,192 x 5,000 periods, 3,000 warm-up). A cell's reference is the optimum or
bound where one is known (`invjax.optimal.known`), and always the best test cost of its
network (any policy, any number of scenarios): the markdown gives both, with the
authors' figures under each family. Cells already in `NAME.json` are replaced when
rerun and kept otherwise, so a grid can be run a piece at a time, or split over
several programs at once (on a small CPU, one per core with
`XLA_FLAGS=--xla_cpu_multi_thread_eigen=false` and `taskset`: the GNN's small-batch
steps barely use a second thread). `--set` overrides trainer fields of every cell, and
`--set policy.OPTION=VALUE` a policy option (an experiment, written under its own
`--name`; each record names its overrides). `--seed N` trains every cell again from
another key (seed 0 is the committed tables'); each seed is a column of its own.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import math
import os
import pathlib

import jax

from benchmarks.networks import train_and_test
from invjax import optimal, settings
from invjax.device import describe
from invjax.train import run_config
from invjax.train.hdpo import TrainConfig
from invjax.train.horizons import DEV_TEST_TOLERANCE, dev_test_warnings, safe_horizons

RESULTS = pathlib.Path(__file__).parent / "results"
SCENARIOS = (128, 1024, 8192)
TEST = (8192, 5000, 3000)
# family: (setting, size option, sizes, fixed options, policies)
FAMILIES = {
    "one_warehouse": ("one_warehouse", "n_stores", (3, 5, 10, 20, 30, 50),
                      {"lead_time_choices": [2, 3, 4, 5], "warehouse_lead_time": 3},
                      ("gnn", "vanilla", "symmetry_aware")),
    "many_warehouses": ("many_warehouses", "n_warehouses", (2, 3, 4, 5, 6), {},
                        ("gnn", "vanilla", "symmetry_aware")),
    "transshipment": ("transshipment", "n_stores", (3, 5, 10, 20, 30, 50),
                      {"lead_time": 4, "underage_cost": 9.0, "correlation": 0.5},
                      ("gnn", "vanilla", "symmetry_aware")),
    "independent_stores": ("independent_stores", "n_stores", (3, 5, 10, 20, 30, 50), {},
                           ("gnn", "vanilla", "symmetry_aware")),
    "serial_chain": ("serial_chain", "n_stages", (3, 4, 5, 6, 7), {}, ("gnn", "vanilla")),
}
AUTHORS = {  # SPEC §9, in short
    "one_warehouse": "GNN over the best policy of its n: 0.7-1.9% @128, <= 0.3% @1,024; "
                     "vanilla 2.2% (n=3) to 14.5% (n=50) @128, 0.1-1.4% @8,192.",
    "many_warehouses": "vanilla over the GNN: 3.8-8.9% @128, 1.8-3.5% @1,024, 1.1-1.8% "
                       "@8,192; the GNN's own excess at 128 or 1,024: 0.1-0.9%.",
    "transshipment": "over the bound: GNN 0.02-0.11% @8,192, 0.6-1.3% @128; vanilla "
                     "0.3-0.9% @8,192, 3.7% (n=3) to 32.6% (n=50) @128.",
    "independent_stores": "over 6.53: GNN <= 0.2% even @128; vanilla 0.9% (n=3) to 8.1% "
                          "(n=50) @128.",
    "serial_chain": "GNN mean gap to Clark-Scarf 4.1% / 1.5% / 1.0% @128 / 1,024 / 8,192.",
}
POLICIES = ("gnn", "vanilla", "symmetry_aware")
POLICY_PREFIX = "policy."  # --set policy.OPTION=VALUE: a policy option, not a trainer field
QUICK = {"sizes": 1, "scenarios": (128,), "steps": 10, "test": (256, 200, 50)}


def trainer_overrides(items: list[str]) -> dict:
    """`FIELD=VALUE` strings (VALUE a Python literal) -> {trainer field: value}; a field
    `policy.OPTION` is a policy option instead (checked when the policy is built)."""
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    overrides = {}
    for item in items:
        field, _, value = item.partition("=")
        if field not in fields and not (field.startswith(POLICY_PREFIX)
                                        and len(field) > len(POLICY_PREFIX)):
            raise ValueError(f"--set {field}: not a trainer field ({', '.join(fields)}) "
                             f"nor {POLICY_PREFIX}OPTION")
        try:
            overrides[field] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise ValueError(f"--set {item}: the value must be a Python literal, e.g. 3e-4")
    return overrides


def cell_config(family: str, size: int, policy: str, n_train: int, steps: int,
                test: tuple, overrides: dict | None = None) -> dict:
    """The run configuration of one cell: the shipped one, resized (module docstring),
    then `overrides` of trainer fields (and of policy options, `policy.OPTION`)."""
    setting, size_key, _, fixed, _ = FAMILIES[family]
    config = run_config.for_setting(setting, policy)
    problem_options = {**config.get("problem", {}), **fixed, size_key: size}
    if setting == "many_warehouses":
        problem_options["n_stores"] = None  # the authors' 10 per warehouse beyond the first
    problem = settings.make(setting, **problem_options)
    batch = min(1024, n_train)
    epochs = max(1, math.ceil(steps / (n_train // batch)))
    derived = safe_horizons(problem.structure, {"train": (n_train, 50, 30),
                                                "dev": (n_train, 100, 60), "test": test})
    overrides = overrides or {}
    options = {k[len(POLICY_PREFIX):]: v for k, v in overrides.items()
               if k.startswith(POLICY_PREFIX)}
    trainer = {**config.get("trainer", {}), "batch_size": batch, "epochs": epochs,
               "eval_every": max(1, epochs // 20), "patience": None,
               **{split: list(h) for split, h in derived.items()},
               **{k: v for k, v in overrides.items() if not k.startswith(POLICY_PREFIX)}}
    policy_config = {**config.get("policy", {"name": policy}), **options}
    return {**config, "problem": problem_options, "policy": policy_config, "trainer": trainer}


def run_cell(family: str, size: int, policy: str, n_train: int, steps: int, test: tuple,
             overrides: dict | None = None, seed: int = 0) -> dict:
    config = cell_config(family, size, policy, n_train, steps, test, overrides)
    problem, policy_fn, train_config = run_config.build(config)
    key = cell_key(family, size, policy, n_train, seed)
    state, cost, seconds = train_and_test(problem, policy_fn, train_config, key)
    known = optimal.known(problem)
    best_dev = float(state.best_dev)
    return {
        "family": family, "size": size, "policy": policy, "n_train_scenarios": n_train,
        "seed": seed,
        "test_cost": cost, "best_dev": best_dev if math.isfinite(best_dev) else None,
        # a test cost far from the dev cost: the dev periods missed the long-run cost
        "warnings": dev_test_warnings(cost, best_dev),
        "reference": None if known is None else known.cost,
        "reference_kind": None if known is None else ("bound" if known.is_bound else "optimum"),
        "gap_pct": None if known is None else 100.0 * (cost / known.cost - 1.0),
        "steps": int(state.epoch) * train_config.steps_per_epoch,
        # patience is off, so only a non-finite loss or gradient stops a cell early
        "diverged": bool(state.nan),
        "seconds": seconds,
        "learning_rate": train_config.learning_rate, "clip_norm": train_config.clip_norm,
        "loss_periods": train_config.loss_periods,
        "backprop_periods": train_config.backprop_periods,
        "overrides": dict(overrides or {}),
        "train": list(train_config.train), "test": list(train_config.test),
        "device": describe(),
    }


def markdown(records: list[dict]) -> str:
    """Per family: one line per size, one column per (policy, scenarios)."""
    devices = "; ".join(sorted({r["device"] for r in records}))
    tests = ", ".join(f"{n} x {t} ({w})" for n, t, w in sorted({tuple(r["test"])
                                                               for r in records}))
    lines = [f"# v3 sample-efficiency study (SPEC §9) ({devices})", "",
             "Test cost per store-period; in brackets the gap to the optimum or bound where "
             "one is known, else the excess over the best cell of the line (any policy, any "
             f"number of scenarios). Test scenarios x periods (warm-up): {tests}.", ""]
    for family in FAMILIES:
        rows = [r for r in records if r["family"] == family]
        if not rows:
            continue
        columns = sorted({_column(r) for r in rows})
        steps = sorted({r["steps"] for r in rows})
        lines += [f"## {family} (size: {FAMILIES[family][1]}; steps {steps})", "",
                  "| size | " + " | ".join(f"{p} @ {n}" + (f" seed {k}" if k else "")
                                           for p, n, k in columns) + " |",
                  "|---" * (len(columns) + 1) + "|"]
        for size in sorted({r["size"] for r in rows}):
            cells = {_column(r): r for r in rows if r["size"] == size}
            best = min(r["test_cost"] for r in cells.values())
            shown = [_cell(cells[c], best) if c in cells else "" for c in columns]
            lines.append(f"| {size} | " + " | ".join(shown) + " |")
        lines += ["", f"Authors: {AUTHORS[family]}", ""]
    lines += [f"\"dev D: test +X%\": the test cost departs from the cell's best dev cost D by "
              f"more than {100 * DEV_TEST_TOLERANCE:g}% (`invjax.train.horizons."
              "dev_test_warnings`): the dev periods did not show the long-run cost. Above the "
              "dev cost: the policy drifts off over the test's longer horizon; below it: the "
              "dev horizon's start-up periods weighed on the dev cost. Cells run before "
              "this check have no dev cost recorded.", ""]
    return "\n".join(lines + _overridden(records))


def format_overrides(overrides: dict) -> str:
    """{"dev": [128, 500, 100], "learning_rate": 3e-4} -> "dev = [128, 500, 100], ..."."""
    return ", ".join(f"{k} = {v}" for k, v in overrides.items())


def _overridden(records: list[dict]) -> list[str]:
    """A line naming the cells trained with `--set` overrides, grouped by override."""
    groups: dict[tuple, list[int]] = {}
    for r in records:
        if r.get("overrides"):  # None or {} in cells run without
            text = format_overrides(r["overrides"])
            groups.setdefault((r["family"], r["policy"], text), []).append(r["size"])
    if not groups:
        return []
    named = "; ".join(f"{family} {policy} at size {', '.join(map(str, sorted(set(sizes))))}: "
                      f"{text}"
                      for (family, policy, text), sizes in groups.items())
    return [f"Cells trained with `--set` overrides: {named}.", ""]


def _cell(r: dict, best: float) -> str:
    notes = [f"diverged at step {r['steps']}"] if r.get("diverged") else []
    if r.get("warnings"):
        departure = r["test_cost"] / r["best_dev"] - 1
        notes.append(f"dev {format_cost(r['best_dev'])}: test {_percent(departure)}")
    suffix = "".join(f"; {n}" for n in notes)
    if r["gap_pct"] is not None:
        return (f"{format_cost(r['test_cost'])} ({_percent(r['gap_pct'] / 100)} "
                f"{r['reference_kind']}{suffix})")
    return f"{format_cost(r['test_cost'])} ({_percent(r['test_cost'] / best - 1)}{suffix})"


def format_cost(x: float) -> str:
    """Three decimals, or three significant digits from 10,000 on (a failed cell)."""
    return f"{x:.3f}" if abs(x) < 1e4 else f"{x:.3g}"


def _percent(fraction: float) -> str:
    return f"{100 * fraction:+.2f}%" if abs(fraction) < 100 else f"{100 * fraction:+.3g}%"


def cell_key(family: str, size: int, policy: str, n_train: int, seed: int = 0):
    """A key that names the cell and seed, so a cell rerun alone trains as it did in the
    grid."""
    key = jax.random.key(seed)
    for part in (list(FAMILIES).index(family), size, POLICIES.index(policy), n_train):
        key = jax.random.fold_in(key, part)
    return key


def start_keys(family: str, size: int, policy: str, n_train: int, seed: int = 0) -> tuple:
    """(data key, initialisation key) of the cell's training run, for scripts that rebuild
    it step by step: `train_best` trains on the first half of the cell's key, and
    `Trainer.train` splits that half in two."""
    return tuple(jax.random.split(jax.random.split(
        cell_key(family, size, policy, n_train, seed))[0]))


def add_cell_arguments(parser: argparse.ArgumentParser) -> None:
    """FAMILY SIZE POLICY [--scenarios N] [--steps N] [--set FIELD=VALUE ...]: one cell
    of the grid, for the scripts that look inside one (`dev_curve`, `cost_by_period`)."""
    parser.add_argument("family", choices=list(FAMILIES))
    parser.add_argument("size", type=int)
    parser.add_argument("policy", choices=list(POLICIES))
    parser.add_argument("--scenarios", type=int, default=128)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="as v3_study --set, e.g. learning_rate=3e-4 \"dev=[128, 500, 100]\"")


def built_cell(parser: argparse.ArgumentParser, args, test: tuple) -> tuple[dict, tuple]:
    """(`--set` overrides, run_config.build of the cell) from `add_cell_arguments`'
    arguments; a bad `--set` ends the program with the error naming it, before any run."""
    try:
        overrides = trainer_overrides(args.set)
        return overrides, run_config.build(cell_config(
            args.family, args.size, args.policy, args.scenarios, args.steps, test, overrides))
    except ValueError as error:  # one line naming the field, from the config schema
        parser.error(str(error))


def chosen_cells(args) -> list[tuple]:
    cells = []
    for family, (_, _, sizes, _, names) in FAMILIES.items():
        if args.only and family not in args.only:
            continue
        sizes = [s for s in sizes if not args.sizes or s in args.sizes]
        sizes = sizes[:QUICK["sizes"]] if args.quick else sizes
        for size in sizes:
            for policy in names:
                if args.policies and policy not in args.policies:
                    continue
                cells += [(family, size, policy, n) for n in args.scenarios]
    return cells


RECORD_KEY = ("family", "size", "policy", "n_train_scenarios", "seed")  # a table's cell


def _field(record: dict, name: str):
    """A record's field; records written before `--seed` existed are seed 0."""
    return record.get(name, 0 if name == "seed" else None)


def _column(record: dict) -> tuple:
    return record["policy"], record["n_train_scenarios"], _field(record, "seed")


def save_record(path: pathlib.Path, record: dict, key: tuple[str, ...]) -> list[dict]:
    """Adds `record` to the JSON list at `path`, replacing the one with the same `key`
    fields, and returns the list. Read just before writing, written whole under another
    name first: other programs may be running other cells of the grid."""
    records = json.loads(path.read_text()) if path.exists() else []
    same = lambda r: all(_field(r, k) == _field(record, k) for k in key)  # noqa: E731
    records = [r for r in records if not same(r)] + [record]
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(records, indent=1))
    partial.replace(path)
    return records


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=list(FAMILIES), help="families")
    parser.add_argument("--sizes", nargs="*", type=int, help="sizes to keep")
    parser.add_argument("--scenarios", nargs="*", type=int, default=list(SCENARIOS))
    parser.add_argument("--policies", nargs="*", choices=list(POLICIES),
                        help="policies to keep")
    parser.add_argument("--steps", type=int, default=2000, help="gradient steps per cell")
    parser.add_argument("--test", nargs=3, type=int, default=list(TEST),
                        metavar=("N", "T", "WARM"))
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny budgets")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--name", default="v3_study")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="trainer fields of every cell, e.g. backprop_periods=25")
    parser.add_argument("--seed", type=int, default=0,
                        help="folded into every cell's key (0: the committed tables' keys)")
    args = parser.parse_args(argv)
    try:
        overrides = trainer_overrides(args.set)
    except ValueError as error:
        parser.error(str(error))
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    if not 0 <= args.seed < 2**32:  # jax.random.key's range; beyond it an OverflowError
        parser.error(f"--seed: {args.seed}; allowed: an integer in [0, 2**32)")
    if any(n < 1 for n in args.scenarios) or any(n < 1 for n in args.test):
        parser.error("--scenarios and --test take positive integers")
    if args.quick:
        args.scenarios, args.steps, args.test = QUICK["scenarios"], QUICK["steps"], QUICK["test"]
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{args.name}.json"
    for family, size, policy, n_train in chosen_cells(args):  # bad --set values: before any run
        try:
            run_config.build(cell_config(family, size, policy, n_train, args.steps,
                                         tuple(args.test), overrides))
        except ValueError as error:
            parser.error(str(error))
    for family, size, policy, n_train in chosen_cells(args):
        record = run_cell(family, size, policy, n_train, args.steps, tuple(args.test),
                          overrides, args.seed)
        records = save_record(path, record, RECORD_KEY)
        print(f"{family} {size} {policy} @{n_train} seed {args.seed}: {record['test_cost']:.4f} "
              f"({record['steps']} steps, {record['seconds']:.0f} s)", flush=True)
        (out / f"{args.name}.md").write_text(markdown(records))


if __name__ == "__main__":
    main()
