"""Every cell of SPEC §6: the optimum (or bound) beside the simulated cost of the optimal
structured policy, with the time each takes.

    python -m benchmarks.optima [--quick] [--only SETTING ...] [--out benchmarks/results]

Writes `optima.json` (one record per cell) and `optima.md`; with `--only`, the chosen
settings' records replace theirs in the existing files and the rest are kept.
"""

from __future__ import annotations

import argparse
import itertools
import json
import pathlib
import time

import jax
import numpy as np
from scipy import stats

import invjax
from invjax import optimal, scenarios, settings
from invjax.device import describe
from invjax.policies import base_stock_allocation

RESULTS = pathlib.Path(__file__).parent / "results"


def _simulate(problem, policy, params, key, n, periods, ignore):
    """Mean cost after warm-up and its 95% half-width from per-scenario means."""
    sc = scenarios.sample(problem, key, n, periods, ignore)
    result = invjax.simulate(problem, policy, params, sc, record=True)
    per_scenario = np.asarray(result.cost[:, ignore:].mean(1)) / problem.structure.n_stores
    half = stats.norm.ppf(0.975) * per_scenario.std(ddof=1) / np.sqrt(n)
    return float(result.mean_cost), float(half)


def transshipment_relaxation(problem):
    """Store base-stock from the bound's relaxation: stores at their newsvendor level over
    L+1 periods, the centre at the system level over L+L_c+1 periods."""
    p = problem.params
    mu, sigma = np.asarray(p.demand_mean), np.asarray(p.demand_std)
    h, b = float(p.holding_cost[0]), float(p.underage_cost[0])
    lead, centre = int(p.lead_time[0]), int(p.warehouse_lead_time[0])
    rho = problem.structure.demand.correlation
    z = stats.norm.ppf(b / (b + h))
    store = mu * (lead + 1) + z * sigma * np.sqrt(lead + 1)
    total_var = (sigma**2).sum() + rho * (sigma.sum() ** 2 - (sigma**2).sum())
    system = mu.sum() * (lead + centre + 1) + z * np.sqrt(
        sigma.sum() ** 2 * (lead + 1) + total_var * centre)
    policy = base_stock_allocation(problem)
    return policy, policy.params_for(store, system)


def cells(quick: bool):
    grid = {
        "one_store_backlogged": dict(lead_time=[1, 4, 7, 10, 15, 20], underage_cost=[4, 9, 19, 39]),
        "one_store_lost": dict(lead_time=[1, 2, 3, 4], underage_cost=[4, 9, 19, 39]),
        "serial": dict(lead_time=[1, 2, 3, 4], underage_cost=[4, 9, 19, 39]),
        "transshipment": dict(n_stores=[3, 5, 10], lead_time=[2, 6], underage_cost=[4, 9],
                              correlation=[0.0, 0.5]),
        "serial_chain": dict(n_stages=[3, 4, 5, 6, 7]),
    }
    if quick:
        grid["one_store_backlogged"] = dict(lead_time=[4], underage_cost=[9])
        grid["one_store_lost"] = dict(lead_time=[1, 2], underage_cost=[9])
        grid["serial"] = dict(lead_time=[2], underage_cost=[9])
        grid["transshipment"] = dict(n_stores=[3], lead_time=[2], underage_cost=[4],
                                     correlation=[0.0])
        grid["serial_chain"] = dict(n_stages=[3])
    for name, axes in grid.items():
        for values in itertools.product(*axes.values()):
            yield name, dict(zip(axes, values))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few cells, short simulations")
    parser.add_argument("--only", nargs="*", help="settings to (re)run")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    n, periods, ignore = (1024, 1000, 200) if args.quick else (4096, 5000, 1000)
    device = describe()
    records = []
    for name, overrides in cells(args.quick):
        if args.only and name not in args.only:
            continue
        problem = settings.make(name, **overrides)
        start = time.perf_counter()
        value = optimal.cost(problem)
        solve_seconds = time.perf_counter() - start
        if name == "transshipment":
            policy, params = transshipment_relaxation(problem)
            structured = "base_stock_allocation (relaxation levels)"
        else:
            policy, params = optimal.policy(problem)
            structured = "optimal"
        start = time.perf_counter()
        simulated, half = _simulate(problem, policy, params, jax.random.key(0), n, periods, ignore)
        record = {
            "setting": name, **overrides,
            "optimum": value, "kind": "lower bound" if name == "transshipment" else "optimum",
            "simulated": simulated, "ci95": half, "gap_pct": 100 * (simulated / value - 1),
            "policy": structured, "solve_seconds": solve_seconds,
            "simulate_seconds": time.perf_counter() - start,
            "scenarios": n, "periods": periods, "ignore_periods": ignore, "device": device,
        }
        records.append(record)
        print(f"{name:22s} {str(overrides):60s} {record['kind']:11s} {value:8.4f}  "
              f"simulated {simulated:8.4f} ± {half:.4f}  ({record['gap_pct']:+.2f}%)  "
              f"solve {solve_seconds:6.2f}s  sim {record['simulate_seconds']:5.1f}s", flush=True)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "_quick" if args.quick else ""
    if args.only and (out / f"optima{suffix}.json").exists():
        kept = json.loads((out / f"optima{suffix}.json").read_text())
        records = [r for r in kept if r["setting"] not in args.only] + records
    (out / f"optima{suffix}.json").write_text(json.dumps(records, indent=1))
    devices = "; ".join(sorted({r["device"] for r in records}))
    lines = [f"# Optima and bounds vs simulated structured policies ({devices})", "",
             f"{n} scenarios x {periods} periods, {ignore} warm-up; ± is a 95% CI.", "",
             "| setting | cell | optimum / bound | simulated | gap % | solve s | sim s |",
             "|---|---|---|---|---|---|---|"]
    for r in records:
        cell = ", ".join(f"{k}={r[k]}" for k in ("n_stores", "n_stages", "lead_time",
                                                  "underage_cost", "correlation") if k in r)
        lines.append(f"| {r['setting']} | {cell} | {r['optimum']:.4f} ({r['kind']}) | "
                     f"{r['simulated']:.4f} ± {r['ci95']:.4f} | {r['gap_pct']:+.2f} | "
                     f"{r['solve_seconds']:.2f} | {r['simulate_seconds']:.1f} |")
    (out / f"optima{suffix}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
