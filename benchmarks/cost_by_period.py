"""One v3 study cell's test cost over windows of periods: does the trained policy hold
its cost over a long horizon, or drift off after the periods it was trained and
selected on?

    python -m benchmarks.cost_by_period FAMILY SIZE POLICY [--scenarios N] [--steps N]
                                        [--set FIELD=VALUE ...] [--test N T] [--out DIR]

Trains the cell exactly as `benchmarks.v3_study` does (same configuration and key, and
the same `--set` overrides) and
keeps its dev-best parameters, then runs them on N fresh scenarios of T periods from the
initial state and reports the mean cost per store-period in windows of periods, and the
spread of the per-scenario costs after period T / 4. Writes
`cost_by_period_FAMILYSIZE_POLICY_STEPSsteps.json` and `.md` (or `--name`.json / .md).
"""

from __future__ import annotations

import argparse
import json
import pathlib

import jax
import numpy as np

import invjax
from benchmarks import v3_study
from benchmarks.networks import train_best
from invjax.device import describe
from invjax.scenarios import sample
from invjax.train import run_config

QUANTILES = (0.0, 0.5, 0.9, 0.99, 1.0)
LAST = 9  # periods of the worst scenario's flows to show: a few cycles of a short lead time


def window_edges(periods: int) -> list[int]:
    """0, 50, 100, 200, 500, 1000, ... below `periods`, then `periods`."""
    edges, step = [0], 50
    while step < periods:
        edges.append(step)
        step = step * 2 if str(step)[0] in "15" else step * 5 // 2
    return edges + [periods]


def trained_cell(family: str, size: int, policy: str, scenarios: int, steps: int,
                 overrides: dict | None = None):
    """(problem, policy, dev-best params, final TrainState, TrainConfig, test key) of the
    v3 study cell, trained as `benchmarks.v3_study` trains it."""
    # The test horizon is the caller's (see cost_by_period); training does not read it.
    config = v3_study.cell_config(family, size, policy, scenarios, steps, (8, 8, 0), overrides)
    problem, policy_fn, train_config = run_config.build(config)
    _, state, params, k_test = train_best(problem, policy_fn, train_config,
                                          v3_study.cell_key(family, size, policy, scenarios))
    return problem, policy_fn, params, state, train_config, k_test


def window_costs(per_store: np.ndarray, edges: list[int]) -> list[dict]:
    """Mean of `per_store` [n, T] over every window [edges[i], edges[i + 1])."""
    return [{"periods": [a, b], "cost": float(per_store[:, a:b].mean())}
            for a, b in zip(edges[:-1], edges[1:])]


def worst_scenario(per_store: np.ndarray, actions, settled: np.ndarray) -> dict:
    """The scenario of highest cost after period T / 4: its cost, and its total inflow
    per destination kind (orders, shipments) in the last `LAST` periods, which shows
    whether it settled at a high cost or cycles."""
    worst = int(np.argmax(settled))
    inflows = {kind: _rounded(np.asarray(flows)[worst, -LAST:].sum(-1))
               for kind, flows in actions._asdict().items()
               if flows is not None and np.shape(flows)[-1]}
    return {"scenario": worst, "settled_cost": float(settled[worst]),
            "last_periods_cost": _rounded(per_store[worst, -LAST:]),
            "last_periods_inflow": inflows}


def _rounded(x: np.ndarray) -> list[float]:
    return [round(float(v), 2) for v in x]


def cost_by_period(family: str, size: int, policy: str, scenarios: int, steps: int,
                   test: tuple[int, int], overrides: dict | None = None) -> dict:
    problem, policy_fn, params, state, train_config, k_test = trained_cell(
        family, size, policy, scenarios, steps, overrides)
    n, periods = test
    data = sample(problem, jax.random.fold_in(k_test, 0), n, periods, 0)
    result = invjax.simulate(problem, policy_fn, params, data, ignore_periods=0)
    per_store = np.asarray(result.cost) / problem.structure.n_stores  # [n, T]
    settled = per_store[:, periods // 4:].mean(1)
    return {
        "family": family, "size": size, "policy": policy, "n_train_scenarios": scenarios,
        "steps": int(state.epoch) * train_config.steps_per_epoch,
        "best_dev": float(state.best_dev), "dev": list(train_config.dev), "test": list(test),
        "overrides": dict(overrides or {}),
        "windows": window_costs(per_store, window_edges(periods)),
        "settled_quantiles": {str(q): float(v)
                              for q, v in zip(QUANTILES, np.quantile(settled, QUANTILES))},
        # scenarios settled at over twice the median: a policy with a second, costly regime
        "share_above_twice_median": float(np.mean(settled > 2 * np.median(settled))),
        "worst": worst_scenario(per_store, result.actions, settled),
        "device": describe(),
    }


def _with(overrides: dict | None) -> str:
    return f" with {v3_study.format_overrides(overrides)}" if overrides else ""


def _listed(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.1f}" for v in values) + "]"


def markdown(record: dict) -> str:
    r = record
    n, periods = r["test"]
    lines = [f"# Test cost by period: {r['family']} {r['size']} {r['policy']} "
             f"@ {r['n_train_scenarios']} ({r['device']})", "",
             f"Trained as the v3 study cell{_with(r.get('overrides'))} ({r['steps']} steps; "
             f"best dev cost {r['best_dev']:.4f} over dev {r['dev']}: scenarios, periods, "
             f"warm-up), then run on {n} fresh scenarios of {periods} periods from the "
             "initial state. Mean cost per store-period in each window:", "",
             "| periods | cost |", "|---|---:|"]
    lines += [f"| {a}-{b} | {v3_study.format_cost(w['cost'])} |"
              for w in r["windows"] for a, b in [w["periods"]]]
    quantiles = ", ".join(f"{float(q):g}: {v3_study.format_cost(v)}"
                          for q, v in r["settled_quantiles"].items())
    lines += ["", f"Per-scenario cost after period {periods // 4}, quantiles: {quantiles}."]
    if "worst" in r:  # records written before these fields lack them
        w = r["worst"]
        share = 100 * r["share_above_twice_median"]
        inflows = "; ".join(f"{k} {_listed(v)}" for k, v in w["last_periods_inflow"].items())
        lines += [f"Scenarios at over twice the median: {share:.1f}%. The worst (scenario "
                  f"{w['scenario']}, {v3_study.format_cost(w['settled_cost'])}) in its last "
                  f"{len(w['last_periods_cost'])} periods: cost per store "
                  f"{_listed(w['last_periods_cost'])}; total inflow into {inflows}."]
    lines.append("")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    v3_study.add_cell_arguments(parser)
    parser.add_argument("--test", nargs=2, type=int, default=[256, 2000], metavar=("N", "T"))
    parser.add_argument("--out", default=str(v3_study.RESULTS))
    parser.add_argument("--name", help="file stem (default: from the cell and --steps)")
    args = parser.parse_args(argv)
    if min(args.size, args.scenarios, args.steps, *args.test) < 1:
        parser.error("size, --scenarios, --steps and --test must be >= 1")
    if args.test[1] < 4:
        parser.error("--test: T must be >= 4 (the spread is taken after period T / 4)")
    overrides, _ = v3_study.built_cell(parser, args, (8, 8, 0))  # a bad --set: before training
    record = cost_by_period(args.family, args.size, args.policy, args.scenarios,
                            args.steps, tuple(args.test), overrides)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = args.name or f"cost_by_period_{args.family}{args.size}_{args.policy}_{args.steps}steps"
    (out / f"{stem}.json").write_text(json.dumps(record, indent=1))
    (out / f"{stem}.md").write_text(markdown(record))
    print(markdown(record))


if __name__ == "__main__":
    main()
