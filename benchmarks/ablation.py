"""What each speed change bought: every change undone on its own, timed against the
current code in the same process, runs interleaved (so both see the same machine load).

    python -m benchmarks.ablation [--reps 10] [--out benchmarks/results] [--only TEXT ...]
        [--name ablation]

A change is undone by swapping a module attribute for the straightforward version it
replaced (re-traced after `jax.clear_caches()`), so every row times exactly one
difference. Besides wall-clock ms, each step's process CPU time (all threads) is
recorded: on a machine shared with other jobs it moves less with their load. Writes
NAME.json and NAME.md (`--only`: the changes whose name contains any of these).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import statistics
import time
from contextlib import contextmanager

import jax
import jax.numpy as jnp

from benchmarks.speed import CASES, RESULTS, device
from invjax import dynamics, rollout, scenarios
from invjax.policies import heuristics, neural, store_layers
from invjax.policies import policy as policy_module


def _advance_one_hot(inventory, post, order, lead_time):
    """The first `advance`: concatenate-shift, in-place add, one-hot select of the slot."""
    k = inventory.shape[-1]
    shifted = jnp.concatenate([inventory[:, 1:], jnp.zeros_like(inventory[:, :1])], axis=-1)
    shifted = shifted.at[:, 0].add(post)
    return shifted + jnp.where(jnp.arange(k) == lead_time[:, None] - 1, order[:, None], 0.0)


def _sum_position(inventory):
    return inventory.sum(-1)


def _store_einsum(x, kernel):
    """The shared store net's every layer as one dot over all scenario x store rows."""
    return jnp.einsum("nsf,fh->nsh", x, kernel)


# (change, what it replaced as (module or dict, attribute, old value) triples, rows to
# time it on); ("splits", None, k) undoes batch splitting instead.
CHANGES = (
    ("rematerialise each period, keep only wide layers' outputs",
     ((rollout, "SAVE_TAGGED", jax.checkpoint_policies.everything_saveable),),
     ("one_store vanilla 3x32 b1024", "one_store vanilla 3x32 b8192",
      "one_warehouse n50 symmetry_aware b1024", "one_warehouse n5 vanilla 3x512 b1024")),
    ("ELU with an output-only derivative and a cheaper expm1",
     ((neural.ACTIVATIONS, "elu", jax.nn.elu),),
     ("one_store vanilla 3x32 b8192", "one_warehouse n50 symmetry_aware b1024")),
    ("inventory position by elementwise adds, not a reduction",
     ((policy_module, "inventory_position", _sum_position),
      (heuristics, "inventory_position", _sum_position)),
     ("one_store base_stock b8192", "eval one_store base_stock n32768 T5000")),
    ("pipeline advance as one stacked elementwise pass",
     ((dynamics, "advance", _advance_one_hot),),
     ("one_store base_stock b8192", "eval one_store base_stock n32768 T5000",
      "eval serial echelon_stock n32768 T5000")),
    ("demand made time-major 50 periods at a time",
     ((rollout, "CHUNK", 10**9),),
     ("eval one_store base_stock n32768 T5000", "eval one_store vanilla 3x32 n8192 T5000")),
    ("batch split into independent sub-batch rollouts (trainer.batch_splits)",
     (("splits", None, 1),),
     ("one_warehouse n5 symmetry_aware b1024", "one_warehouse n50 symmetry_aware b1024")),
    ("shared store net's narrow first layer as fused multiply-adds, not a dot",
     ((store_layers, "_store_matmul", _store_einsum),),
     ("one_warehouse n5 symmetry_aware b1024", "one_warehouse n50 symmetry_aware b1024")),
)


@contextmanager
def undone(patches):
    """Puts the old values of `patches` in place (and clears jax's caches) for a block."""
    saved = []
    for owner, name, old in patches:
        if owner == "splits":
            continue
        saved.append((owner, name, _get(owner, name)))
        _set(owner, name, old)
    jax.clear_caches()
    try:
        yield
    finally:
        for owner, name, value in saved:
            _set(owner, name, value)
        jax.clear_caches()


def _get(owner, name):
    return owner[name] if isinstance(owner, dict) else getattr(owner, name)


def _set(owner, name, value):
    if isinstance(owner, dict):
        owner[name] = value
    else:
        setattr(owner, name, value)


def _compiled(case, splits):
    """The invjax step of `benchmarks.speed` for `case`, compiled now (tracing reads the
    module attributes as they are at this moment)."""
    from benchmarks.speed import invjax_step

    case = dataclasses.replace(case, splits=splits)
    problem, policy, params = case.build()
    sc = scenarios.sample(problem, jax.random.key(1), case.n, case.periods)
    fn, args = invjax_step(case, problem, policy, params, sc)
    compiled = fn.lower(*args).compile()
    return lambda: jax.block_until_ready(compiled(*args))


def measure(name, patches, case_name, reps):
    case = next(c for c in CASES if c.name == case_name)
    if not case.train:  # rollouts at T = 500: the per-period costs show, in seconds
        case = dataclasses.replace(case, periods=500, name=case.name.replace("T5000", "T500"))
    splits = case.splits
    now = _compiled(case, splits)
    old_splits = next((old for owner, _, old in patches if owner == "splits"), splits)
    with undone(patches):
        before = _compiled(case, old_splits)
    times = {"before": [], "now": []}
    cpu = {"before": [], "now": []}
    before(), now()
    for i in range(reps):  # which goes first alternates
        for label, run in (("before", before), ("now", now))[::1 if i % 2 == 0 else -1]:
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            times[label].append(1e3 * (time.perf_counter() - start))
            cpu[label].append(1e3 * (time.process_time() - start_cpu))
    ms = {k: statistics.median(v) for k, v in times.items()}
    cpu_ms = {k: statistics.median(v) for k, v in cpu.items()}
    return {"change": name, "row": case.name, "before_ms": ms["before"], "now_ms": ms["now"],
            "speedup": ms["before"] / ms["now"], "before_cpu_ms": cpu_ms["before"],
            "now_cpu_ms": cpu_ms["now"], "cpu_speedup": cpu_ms["before"] / cpu_ms["now"],
            "before_ms_all": times["before"], "now_ms_all": times["now"], "reps": reps,
            "device": device()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--only", nargs="*", help="changes whose name contains any of these")
    parser.add_argument("--name", default="ablation", help="output file stem")
    args = parser.parse_args(argv)
    rows = []
    for name, patches, case_names in CHANGES:
        if args.only and not any(s in name for s in args.only):
            continue
        for case_name in case_names:
            rows.append(measure(name, patches, case_name, args.reps))
            r = rows[-1]
            print(f"{name[:50]:50s} {r['row']:42s} {r['before_ms']:8.1f} -> "
                  f"{r['now_ms']:8.1f} ms ({r['speedup']:.2f}x)", flush=True)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(rows, indent=1))
    lines = [f"# What each speed change bought ({device()}, jax {jax.__version__})", "",
             f"Median ms per step over {args.reps} interleaved runs; before = this change "
             "alone undone; CPU ms: process CPU time per step, all threads.", "",
             "| change | row | before ms | now ms | speed-up | before CPU ms | now CPU ms | "
             "CPU speed-up |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['change']} | {r['row']} | {r['before_ms']:.1f} | {r['now_ms']:.1f} | "
              f"{r['speedup']:.2f}x | {r['before_cpu_ms']:.0f} | {r['now_cpu_ms']:.0f} | "
              f"{r['cpu_speedup']:.2f}x |" for r in rows]
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / args.name}.md")


if __name__ == "__main__":
    main()
