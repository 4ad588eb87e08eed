"""What factoring the store net's first layer saves: the context block W_c @ context is
the same for every store, so it is computed once per scenario instead of once per store.

    python -m benchmarks.symmetry_aware [--quick] [--out DIR]

For n stores, times the policy's forward pass and one HDPO step (T periods, batch B),
factored and naive (same parameters, same outputs), and counts first-layer multiply-adds.
Writes `symmetry_aware_factored.json` and `.md`.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax
import numpy as np

import invjax
from invjax.device import describe
from invjax.policies.neural import STORE_FEATURES
from invjax.policies.symmetry_aware import first_layer_macs
from invjax.rollout import hindsight_cost

RESULTS = pathlib.Path(__file__).parent / "results"
SIZES = {"context_size": 256, "context_hidden": [256], "store_hidden": [32, 32],
         "warehouse_hidden": [16, 16]}  # the paper's symmetry-aware net


def _median_ms(fn, *args, repeats):
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def measure(n_stores: int, batch: int, periods: int, repeats: int, key) -> dict:
    problem = invjax.settings.make("one_warehouse", n_stores=n_stores, seed=0)
    k_data, k_init = jax.random.split(key)
    scenarios = invjax.scenarios.sample(problem, k_data, batch, periods)
    policies = {f: invjax.policies.make("symmetry_aware", problem, factored=f, **SIZES)
                for f in (True, False)}
    params = policies[True].init(k_init)
    obs = invjax.Env(problem).reset(scenarios)
    row = {"n_stores": n_stores, "batch": batch, "periods": periods}
    outputs = {}
    for factored, policy in policies.items():
        name = "factored" if factored else "naive"
        forward = jax.jit(policy.apply)
        outputs[name] = forward(params, obs).stores
        step = jax.jit(jax.value_and_grad(
            lambda p, sc, pol=policy: hindsight_cost(problem, pol, p, sc)))
        row[f"{name}_forward_ms"] = _median_ms(forward, params, obs, repeats=repeats)
        row[f"{name}_step_ms"] = _median_ms(step, params, scenarios, repeats=max(3, repeats // 5))
        inputs = problem.structure.store_slots + len(STORE_FEATURES)
        row[f"{name}_first_layer_macs"] = first_layer_macs(
            n_stores, inputs, SIZES["context_size"], SIZES["store_hidden"][0], factored)
    row["max_abs_difference"] = float(np.abs(outputs["factored"] - outputs["naive"]).max())
    for what in ("forward_ms", "step_ms", "first_layer_macs"):
        row[f"{what.split('_')[0]}_{what.split('_')[1]}_saving"] = (
            row[f"naive_{what}"] / row[f"factored_{what}"])
    row["device"] = describe()
    return row


def markdown(rows) -> str:
    lines = ["| stores | batch | T | first-layer MACs naive / factored | forward ms naive / "
             "factored | HDPO step ms naive / factored | max abs diff |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['n_stores']} | {r['batch']} | {r['periods']} | "
            f"{r['naive_first_layer_macs']:,} / {r['factored_first_layer_macs']:,} "
            f"({r['first_layer_saving']:.1f}x) | {r['naive_forward_ms']:.2f} / "
            f"{r['factored_forward_ms']:.2f} ({r['forward_ms_saving']:.2f}x) | "
            f"{r['naive_step_ms']:.0f} / {r['factored_step_ms']:.0f} "
            f"({r['step_ms_saving']:.2f}x) | {r['max_abs_difference']:.1e} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    stores = [5, 20] if args.quick else [5, 20, 50]
    batch, periods, repeats = (256, 10, 5) if args.quick else (1024, 50, 20)
    key = jax.random.key(0)
    rows = []
    for n in stores:
        key, k = jax.random.split(key)
        rows.append(measure(n, batch, periods, repeats, k))
        print(markdown(rows[-1:]).splitlines()[-1])
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "symmetry_aware_factored.json").write_text(json.dumps(rows, indent=1))
    (out / "symmetry_aware_factored.md").write_text(
        "# Symmetry-aware store net: factored vs naive first layer\n\n"
        f"Device {rows[0]['device']}; paper sizes {SIZES}.\n\n" + markdown(rows))


if __name__ == "__main__":
    main()
