"""A first, small cut of the v3 sample-efficiency study (SPEC §9): the GNN against the
vanilla net on few training scenarios, each cell a fixed number of HDPO steps.

    python -m benchmarks.gnn_study [--steps N] [--only SUBSTRING ...] [--out DIR]

Writes `gnn_study.json` and `gnn_study.md`: test cost, the optimum where one is known
(`invjax.optimal.known`), the gap to it, and each cell's excess over the best policy of
its row (same setting and training scenarios).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax

import invjax
from invjax import optimal, settings
from invjax.device import describe
from invjax.train import TrainConfig, make_train

RESULTS = pathlib.Path(__file__).parent / "results"
VANILLA = {"hidden": (32, 32, 32)}
# (row, setting, overrides, training scenarios, {policy: (options, learning rate)})
ROWS = [
    ("independent_stores n=10", "independent_stores", {"n_stores": 10}, 128,
     {"gnn": ({}, 1e-2), "vanilla": (VANILLA, 3e-3)}),
    ("independent_stores n=50", "independent_stores", {"n_stores": 50}, 128,
     {"gnn": ({}, 1e-2), "vanilla": (VANILLA, 3e-3)}),
    ("many_warehouses 2x10", "many_warehouses", {"n_warehouses": 2}, 128,
     {"gnn": ({}, 1e-2), "vanilla": ({"hidden": (512, 512, 512)}, 3e-4)}),
]
TEST = (2048, 1000, 300)  # scenarios, periods, warm-up


def run_cell(setting, overrides, n_train, policy_name, options, lr, steps) -> dict:
    problem = settings.make(setting, **overrides)
    policy = invjax.policies.make(policy_name, problem, **options)
    batch = min(128, n_train)
    config = TrainConfig(learning_rate=lr, batch_size=batch, epochs=steps * batch // n_train,
                         eval_every=10, clip_norm=1.0, train=(n_train, 50, 30),
                         dev=(1024, 100, 60))
    trainer = make_train(problem, policy, config)
    start = time.perf_counter()
    state, _ = jax.jit(trainer.train)(jax.random.key(0))
    test = invjax.scenarios.sample(problem, jax.random.key(7), *TEST)
    cost = float(trainer.evaluate(state.best_params, test))
    known = optimal.known(problem)
    known = None if known is None else known.cost
    return {"setting": setting, "overrides": overrides, "n_train_scenarios": n_train,
            "policy": policy_name, "learning_rate": lr, "steps": steps, "test_cost": cost,
            "optimum": known, "gap_pct": None if known is None else 100 * (cost / known - 1),
            "seconds": time.perf_counter() - start, "device": describe()}


def markdown(records: list) -> str:
    best = {}
    for r in records:
        key = (r["setting"], json.dumps(r["overrides"]), r["n_train_scenarios"])
        best[key] = min(best.get(key, float("inf")), r["test_cost"])
    lines = [f"# GNN vs vanilla on few training scenarios ({records[0]['device']})", "",
             f"Test: {TEST[0]} scenarios x {TEST[1]} periods ({TEST[2]} warm-up); batch "
             "min(128, scenarios); Adam, clip 1.0.", "",
             "| setting | train scenarios | policy | lr | steps | test cost | optimum | gap | "
             "excess over best | s |", "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in records:
        key = (r["setting"], json.dumps(r["overrides"]), r["n_train_scenarios"])
        gap = "-" if r["gap_pct"] is None else f"{r['gap_pct']:+.2f}%"
        opt = "-" if r["optimum"] is None else f"{r['optimum']:.4f}"
        lines.append(
            f"| {r['setting']} {r['overrides']} | {r['n_train_scenarios']} | {r['policy']} | "
            f"{r['learning_rate']:g} | {r['steps']} | {r['test_cost']:.4f} | {opt} | {gap} | "
            f"{100 * (r['test_cost'] / best[key] - 1):+.2f}% | {r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--only", nargs="*", help="rows whose name contains any of these")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "gnn_study.json"
    records = json.loads(path.read_text()) if path.exists() else []  # other rows' cells stay
    for name, setting, overrides, n_train, cells in ROWS:
        if args.only and not any(s in name for s in args.only):
            continue
        for policy_name, (options, lr) in cells.items():
            records = [r for r in records if (r["setting"], r["overrides"], r["policy"],
                                              r["n_train_scenarios"]) !=
                       (setting, overrides, policy_name, n_train)]
            records.append(run_cell(setting, overrides, n_train, policy_name, options, lr,
                                    args.steps))
            print({k: records[-1][k] for k in ("setting", "policy", "test_cost", "gap_pct",
                                               "seconds")}, flush=True)
            path.write_text(json.dumps(records, indent=1))
            (out / "gnn_study.md").write_text(markdown(records))


if __name__ == "__main__":
    main()
