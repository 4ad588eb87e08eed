"""Gradient variance and accuracy: HDPO against REINFORCE (three baselines), by batch size.

    python -m benchmarks.gradients [--quick] [--out benchmarks/results]

The fixed policy is the default run's (one_store_lost, L=4, p=9, vanilla 3x32) after a
short HDPO warm start, so that it sits part-way through training. Writes
`gradients.json`, `gradients.md` and `gradients.png` (`gradients_quick.*` with --quick).

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246 (HDPO against REINFORCE); SPEC §5.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax

import invjax
from invjax import diagnostics
from invjax.device import describe
from invjax.train import TrainConfig, make_train

RESULTS = pathlib.Path(__file__).parent / "results"

FULL = dict(batch_sizes=[16, 128, 1024, 4096], repeats=24, periods=50,
            truth_scenarios=65_536, value_steps=300, warm_epochs=30, warm_train=8192)
QUICK = dict(batch_sizes=[32, 256], repeats=8, periods=20,
             truth_scenarios=8192, value_steps=50, warm_epochs=2, warm_train=2048)


def warm_policy(problem, policy, epochs: int, n: int, periods: int, key):
    """Policy parameters after a few HDPO epochs (best by dev cost)."""
    config = TrainConfig(learning_rate=3e-3, batch_size=1024, epochs=epochs, eval_every=epochs,
                         train=(n, periods, 0), dev=(n, 2 * periods, periods))
    state, metrics = jax.jit(make_train(problem, policy, config).train)(key)
    return state.best_params, float(metrics.best_dev[-1])


def markdown(result: dict) -> str:
    s = result["setup"]
    lines = [
        f"# Gradient estimators: variance and cosine to the true gradient ({s['device']})",
        "",
        f"{s['setting']} {s['problem']}, {s['policy']} after {s['warm_epochs']} HDPO epochs "
        f"(dev cost {s['warm_dev_cost']:.3f}); {s['periods']} periods per scenario, "
        f"{s['repeats']} draws per cell; REINFORCE noise scale {s['noise_scale']} "
        "(std / mean demand). True gradient: HDPO on "
        f"{s['truth_scenarios']} scenarios (norm {result['truth_norm']:.4g}); cosine between "
        f"it and the perturbed policy's large-batch gradient: {result['smoothed_cosine']:.3f}.",
        "",
        "| estimator | batch | variance / ‖true‖² | cosine (± sd) | cosine to perturbed |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['estimator']} | {r['batch_size']} | {r['relative_variance']:.4g} | "
            f"{r['cosine']:.3f} ± {r['cosine_std']:.3f} | {r['cosine_smoothed']:.3f} |")
    lines += ["", f"Wall time {result['seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="two batch sizes, few draws")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--noise-scale", type=float, default=0.2)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    start = time.perf_counter()
    problem = invjax.settings.make("one_store_lost", lead_time=4, underage_cost=9.0)
    policy = invjax.policies.vanilla(problem, hidden=(32, 32, 32))
    k_warm, k_stats = jax.random.split(jax.random.key(0))
    params, warm_dev = warm_policy(problem, policy, sizes["warm_epochs"], sizes["warm_train"],
                                   sizes["periods"], k_warm)
    stats = diagnostics.gradient_stats(
        problem, policy, params, k_stats, sizes["batch_sizes"], periods=sizes["periods"],
        repeats=sizes["repeats"], noise_scale=args.noise_scale,
        truth_scenarios=sizes["truth_scenarios"], value_steps=sizes["value_steps"])
    result = {
        "setup": {"setting": "one_store_lost", "problem": {"lead_time": 4, "underage_cost": 9.0},
                  "policy": "vanilla 3x32", "noise_scale": args.noise_scale,
                  "warm_dev_cost": warm_dev, "quick": args.quick,
                  "device": describe(),
                  **sizes},
        **stats,
        "seconds": time.perf_counter() - start,
    }
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "gradients_quick" if args.quick else "gradients"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1))
    (out / f"{stem}.md").write_text(markdown(result))
    import matplotlib

    matplotlib.use("Agg")
    diagnostics.plot(stats, out / f"{stem}.png",
                     title="one_store_lost L=4 p=9, vanilla 3x32: gradient estimators")
    print(markdown(result))


if __name__ == "__main__":
    main()
