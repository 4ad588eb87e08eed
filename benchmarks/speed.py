"""invjax against a plain-PyTorch port of the same problem, policy and HDPO step.

    python -m benchmarks.speed [--quick] [--out benchmarks/results] [--only NAME ...]

Times, side by side in one process (steps of the two frameworks interleaved, so both
see the same machine load): one HDPO step (hindsight cost over T = 50 periods, its
gradient, an Adam update) for every training row, and one rollout without gradients for
the evaluation rows. Writes speed.json (one record per row) and speed.md.

Per row: compile time (invjax: lower + XLA compile; torch: the first step beyond a
steady one), median ms per step after warm-up, sample-periods per second, peak memory
(invjax: XLA's buffer assignment; torch: the tensors autograd saves plus the inputs),
achieved GFLOP/s of the policy's matmuls against this machine's matmul peak, measured
here on a 4096^3 product. FLOPs are the model's: the forward's matmuls x3 when
training (HDPO differentiates through the state, so every layer needs its input and
its weight gradient); invjax's recomputation of narrow layers in the backward pass is
not counted, so its GFLOP/s is what the step achieves on the work it must do.

torch runs eagerly (and compiled with torch.compile when asked) with the faster of 1
or all-cores intra-op threads, probed per row: on a loaded machine OpenMP's barriers
make 2 threads several times slower than 1.

On a GPU (JAX's default backend is "gpu" and torch sees CUDA) both frameworks run
there: torch's steps end with `torch.cuda.synchronize()`, torch's peak memory is
`torch.cuda.max_memory_allocated` over one step, both use TF32 for float32 matmuls
(JAX's GPU default; torch is told to), the matmul peak is measured on the GPU, every
row runs with batch_splits = 1 (the splits only help XLA:CPU's thread pool),
torch.compile uses mode "reduce-overhead" (CUDA graphs, the fair peer of a jitted step),
and the results go to speed_gpu.json / .md unless --name says otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import statistics
import time

import jax
import jax.numpy as jnp
import optax

import invjax
from benchmarks.measures import matmul_flops, matmul_peak, on_gpu
from benchmarks.measures import median_ms as _median_ms
from benchmarks.speed_torch import (compile_mode, compile_skipped, pick_torch_threads, release,
                                    time_torch)
from invjax import policies, scenarios, settings
from invjax.device import describe as device

RESULTS = pathlib.Path(__file__).parent / "results"


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark row: a setting, a policy, a batch and a horizon."""

    name: str
    setting: str
    overrides: tuple = ()  # (key, value) pairs for settings.make
    policy: str = "vanilla"
    options: tuple = ()  # (key, value) pairs for the policy factory
    n: int = 1024
    periods: int = 50
    train: bool = True  # HDPO step; False: a rollout without gradients
    splits: int = 1  # invjax's trainer.batch_splits (independent sub-batch rollouts)
    gpu_only: str = ""  # why the row is not run on a CPU ("": it is)

    def build(self):
        problem = settings.make(self.setting, **dict(self.overrides))
        policy = policies.make(self.policy, problem, **dict(self.options))
        return problem, policy, policy.init(jax.random.key(0))

    def torch_policy(self, problem):
        from benchmarks import torch_policies

        return torch_policies.make_policy(problem, self.policy, **dict(self.options))


V32 = (("hidden", (32, 32, 32)),)
V512 = (("hidden", (512, 512, 512)),)
SA = (("context_size", 256), ("context_hidden", (256,)), ("store_hidden", (32, 32)),
      ("warehouse_hidden", (16, 16)))  # the paper's sizes (configs/one_warehouse-*)
OS = (("lead_time", 4), ("underage_cost", 9.0))
MW = (("n_warehouses", 2), ("n_stores", 10))  # the authors' network (SPEC §7)
# The symmetry-aware rows set trainer.batch_splits (independent sub-batch rollouts,
# `invjax.rollout.hindsight_cost`), tuned on the 2-core machine of the committed
# results (results/symmetry_aware_splits.md): n = 5, two (one per core); n = 50, eight,
# so that a sub-batch's store-layer activations ([128, 50, 32] floats, 0.8 MB) fit the
# 1 MB per-core L2 (two runs: 1.44x and 1.47x over torch, against 1.28x / 1.29x at four).

CASES = (
    Case("one_store vanilla 3x32 b1024", "one_store_lost", OS, "vanilla", V32, 1024),
    Case("one_store vanilla 3x32 b8192", "one_store_lost", OS, "vanilla", V32, 8192),
    Case("one_store base_stock b8192", "one_store_lost", OS, "base_stock", (), 8192),
    Case("serial vanilla 2x32 b8192", "serial", (), "vanilla", (("hidden", (32, 32)),), 8192),
    Case("one_warehouse n5 vanilla 3x512 b1024", "one_warehouse", (("n_stores", 5),),
         "vanilla", V512, 1024),
    Case("one_warehouse n5 symmetry_aware b1024", "one_warehouse", (("n_stores", 5),),
         "symmetry_aware", SA, 1024, splits=2),
    Case("one_warehouse n50 vanilla 3x512 b1024", "one_warehouse", (("n_stores", 50),),
         "vanilla", V512, 1024),
    Case("one_warehouse n50 symmetry_aware b1024", "one_warehouse", (("n_stores", 50),),
         "symmetry_aware", SA, 1024, splits=8),
    Case("many_warehouses 2x10 base_stock_allocation b1024", "many_warehouses", MW,
         "base_stock_allocation", (), 1024),
    Case("many_warehouses 2x10 vanilla 3x512 b1024", "many_warehouses", MW, "vanilla", V512,
         1024),
    Case("many_warehouses 2x10 gnn b1024", "many_warehouses", MW, "gnn", (), 1024),
    Case("one_warehouse n50 gnn b1024", "one_warehouse", (("n_stores", 50),), "gnn", (), 1024,
         gpu_only="the torch port's eager step keeps its activations for all 50 periods "
                  "and was killed for memory on a 24 GB machine"),
    Case("eval one_store vanilla 3x32 n8192 T5000", "one_store_lost", OS, "vanilla", V32,
         8192, 5000, train=False),
    Case("eval one_store base_stock n32768 T5000", "one_store_lost", OS, "base_stock", (),
         32768, 5000, train=False),
    Case("eval serial echelon_stock n32768 T5000", "serial", (), "echelon_stock", (),
         32768, 5000, train=False),
    Case("eval many_warehouses 2x10 base_stock_allocation n8192 T5000", "many_warehouses",
         MW, "base_stock_allocation", (), 8192, 5000, train=False),
)


def step_flops(case: Case, problem, policy, params) -> float:
    """Matmul FLOPs of one step: T forward passes of the policy, x3 when training."""
    sc = scenarios.sample(problem, jax.random.key(0), case.n, 1)
    obs = invjax.Env(problem).reset(sc)
    forward = matmul_flops(policy.apply, params, obs)
    return forward * case.periods * (3 if case.train else 1)


# ----------------------------------------------------------------------------- invjax
def invjax_step(case: Case, problem, policy, params, sc):
    """(jitted step, its arguments): HDPO's minibatch step as `invjax.train.make_train`
    runs it (hindsight cost, gradient, finite check, Adam), or a rollout."""
    if not case.train:
        def rollout(params, sc):
            return invjax.simulate(problem, policy, params, sc, 0, record=False).mean_cost

        return jax.jit(rollout), (params, sc)
    optimizer = optax.adam(1e-3)

    def step(params, opt_state, sc):
        loss, grads = jax.value_and_grad(
            lambda p: invjax.hindsight_cost(problem, policy, p, sc, splits=case.splits))(params)
        finite = jnp.isfinite(loss) & jnp.all(jnp.stack(
            [jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
        updates, new_opt = optimizer.update(grads, opt_state, params)
        new = optax.apply_updates(params, updates)
        keep = lambda a, b: jax.tree.map(lambda x, y: jnp.where(finite, x, y), a, b)
        return keep(new, params), keep(new_opt, opt_state), loss

    return jax.jit(step), (params, optimizer.init(params), sc)


def time_invjax(case: Case, problem, policy, params, sc):
    """(compile s, run-one-step closure, peak bytes)."""
    fn, args = invjax_step(case, problem, policy, params, sc)
    start = time.perf_counter()
    compiled = fn.lower(*args).compile()
    compile_s = time.perf_counter() - start
    mem = compiled.memory_analysis()
    peak = (mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes
            - mem.alias_size_in_bytes) if mem is not None else float("nan")
    run = lambda: jax.block_until_ready(compiled(*args))
    return compile_s, run, peak


# ----------------------------------------------------------------------------- rows


def run_case(case: Case, reps: int, peak: dict, torch_compile: bool) -> dict:
    """Both frameworks on one case, steps interleaved."""
    if on_gpu():
        case = dataclasses.replace(case, splits=1)
    problem, policy, params = case.build()
    sc = scenarios.sample(problem, jax.random.key(1), case.n, case.periods)
    j_compile, j_run, j_peak = time_invjax(case, problem, policy, params, sc)
    t_compile, t_run, t_peak = time_torch(case, problem, params, sc, compiled=False)
    runs = {"invjax": j_run, "torch": t_run}
    c_compile = compile_skipped(case) if torch_compile else ""
    if torch_compile and not c_compile:
        try:
            c_compile, c_run, _ = time_torch(case, problem, params, sc, compiled=True)
            runs["torch_compile"] = c_run
        except Exception as error:  # noqa: BLE001 (recorded, not fatal)
            c_compile = f"failed: {type(error).__name__}: {str(error)[:200]}"
    for run in runs.values():  # warm-up
        run()
    threads = pick_torch_threads(t_run)
    times = {name: [] for name in runs}
    for _ in range(reps):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(1e3 * (time.perf_counter() - start))
    ms = {name: statistics.median(t) for name, t in times.items()}
    flops = step_flops(case, problem, policy, params)
    best = max(peak.values())
    row = {
        "name": case.name,
        "kind": "hdpo_step" if case.train else "rollout_no_grad",
        "invjax_batch_splits": case.splits,
        "n": case.n,
        "periods": case.periods,
        "device": device(),
        "torch_ms": ms["torch"],
        "invjax_ms": ms["invjax"],
        "torch_over_invjax": ms["torch"] / ms["invjax"],
        "invjax_compile_s": j_compile,
        "torch_first_step_overhead_s": t_compile,
        "torch_sample_periods_per_s": case.n * case.periods / ms["torch"] * 1e3,
        "invjax_sample_periods_per_s": case.n * case.periods / ms["invjax"] * 1e3,
        "torch_peak_mb": t_peak / 1e6,
        "invjax_peak_mb": j_peak / 1e6,
        "matmul_gflop_per_step": flops / 1e9,
        "torch_gflops": flops / ms["torch"] / 1e6,
        "invjax_gflops": flops / ms["invjax"] / 1e6,
        "invjax_pct_of_peak": 100 * flops / ms["invjax"] / 1e6 / best,
        "torch_pct_of_peak": 100 * flops / ms["torch"] / 1e6 / best,
        "torch_threads": threads,
        "reps": reps,
        "invjax_ms_all": times["invjax"],
        "torch_ms_all": times["torch"],
    }
    if torch_compile:
        row["torch_compile_ms"] = ms.get("torch_compile")
        row["torch_compile_s"] = c_compile
        row["torch_compile_mode"] = compile_mode()
    return row


def many_runs(quick: bool) -> list:
    """Whole HDPO runs (`make_train(...).train`), one alone against several in one
    vmapped program: over seeds, and over the p grid of one lead time (`train.grid`)."""
    from invjax.train import TrainConfig, grid, make_train

    runs, reps = 4, (1 if quick else 3)
    config = TrainConfig(learning_rate=3e-3, batch_size=1024, epochs=4, eval_every=2,
                         train=(4096, 50, 30), dev=(4096, 100, 60))
    cells = [settings.make("one_store_lost", lead_time=4, underage_cost=p)
             for p in (4.0, 9.0, 19.0, 39.0)]
    problem = cells[1]
    policy = policies.vanilla(problem, hidden=(32, 32, 32))
    train = make_train(problem, policy, config).train
    keys = jax.random.split(jax.random.key(0), runs)
    programs = {
        "one": (jax.jit(train), keys[0]),
        "seeds": (jax.jit(jax.vmap(train)), keys),
        "cells": (jax.jit(grid.make_grid_train(cells, policy, config).train), keys[0]),
    }
    seconds = {}
    for name, (fn, arg) in programs.items():
        compiled = fn.lower(arg).compile()
        run = lambda: jax.block_until_ready(compiled(arg))  # noqa: E731
        run()
        seconds[name] = _median_ms(run, reps) / 1e3
    steps = config.epochs * config.steps_per_epoch
    what = (f"one_store vanilla 3x32, {steps} HDPO steps of batch {config.batch_size} "
            f"+ {config.epochs // config.eval_every} dev evaluations")
    rows = []
    for name, label in (("seeds", "seeds"), ("cells", "p grid cells (L = 4)")):
        rows.append({
            "name": f"{runs} {label}: {what}", "runs": runs, "device": device(),
            "one_run_s": seconds["one"], "all_runs_s": seconds[name],
            "per_run_s": seconds[name] / runs,
            "speedup_per_run": seconds["one"] * runs / seconds[name],
        })
        print(f"{rows[-1]['name']}: one {seconds['one']:.2f}s, {runs} together "
              f"{seconds[name]:.2f}s", flush=True)
    return rows


def best_torch_over_invjax(row: dict) -> float:
    """torch's faster mode (eager or torch.compile) over invjax."""
    compiled = row.get("torch_compile_ms")
    best = min(row["torch_ms"], compiled) if compiled else row["torch_ms"]
    return best / row["invjax_ms"]


def markdown(peak: dict, rows: list, many: list, notes: list) -> str:
    lines = [
        "# invjax vs PyTorch (same problem, policy and HDPO step)",
        "",
        f"Device: {device()}. Matmul peak (4096^3 float32{', TF32' if on_gpu() else ''}): "
        f"torch {peak['torch']:.0f}, XLA {peak['xla']:.0f} GFLOP/s. jax {jax.__version__}, "
        f"torch {__import__('torch').__version__}, "
        f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}.",
        "",
        "| row | torch ms | invjax ms | torch / invjax | best torch / invjax | "
        "invjax compile s | invjax Msample-periods/s | peak MB torch / invjax | "
        "GFLOP/s torch / invjax (% of peak) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        gflops = "-" if not r["matmul_gflop_per_step"] else (
            f"{r['torch_gflops']:.1f} / {r['invjax_gflops']:.1f} "
            f"({r['invjax_pct_of_peak']:.0f}%)")
        splits = r.get("invjax_batch_splits", 1)
        label = r["name"] + (f" (invjax batch_splits={splits})" if splits > 1 else "")
        lines.append(
            f"| {label} | {r['torch_ms']:.1f} | {r['invjax_ms']:.1f} | "
            f"{r['torch_over_invjax']:.2f}x | {best_torch_over_invjax(r):.2f}x | "
            f"{r['invjax_compile_s']:.1f} | "
            f"{r['invjax_sample_periods_per_s'] / 1e6:.2f} | "
            f"{r['torch_peak_mb']:.0f} / {r['invjax_peak_mb']:.0f} | {gflops} |")
    compiled = [r for r in rows if "torch_compile_ms" in r or "torch_compile_s" in r]
    if compiled:
        modes = sorted({r.get("torch_compile_mode", "default") for r in compiled})
        lines += ["", f"torch.compile (mode {' / '.join(modes)}; the one-period function, "
                  "eager loop over periods):", "",
                  "| row | first-call overhead s | ms | eager ms |", "|---|---:|---:|---:|"]
        for r in compiled:
            c = r["torch_compile_s"]
            c = f"{c:.0f}" if isinstance(c, float) else c
            ms = r.get("torch_compile_ms")
            lines.append(f"| {r['name']} | {c} | {'-' if ms is None else f'{ms:.1f}'} | "
                         f"{r['torch_ms']:.1f} |")
    if many:
        lines += ["", "Many runs in one program (vmap), whole HDPO runs:", "",
                  "| row | runs | one run s | all runs s | s per run | speed-up per run |",
                  "|---|---:|---:|---:|---:|---:|"]
        for r in many:
            lines.append(
                f"| {r['name']} | {r['runs']} | {r['one_run_s']:.2f} | {r['all_runs_s']:.2f} | "
                f"{r['per_run_s']:.2f} | {r['speedup_per_run']:.2f}x |")
    return "\n".join(lines + [""] + notes) + "\n"


def _with_splits(cases, splits) -> list:
    """`cases`, each symmetry-aware row repeated once per value of `splits` (if any)."""
    if not splits:
        return list(cases)
    out = []
    for case in cases:
        shared = case.policy == "symmetry_aware"
        out += [dataclasses.replace(case, splits=n) for n in splits] if shared else [case]
    return out


def resident_gb() -> float:
    """This process's resident memory now (Linux; 0 where /proc is absent)."""
    try:
        status = pathlib.Path("/proc/self/status").read_text()
    except OSError:
        return 0.0
    kb = next((line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")), 0)
    return int(kb) / 1e6


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="3 timed steps per row, T = 500 for the rollouts, no torch.compile")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--only", nargs="*", help="rows whose name contains any of these")
    parser.add_argument("--reps", type=int, help="timed steps per row (default 10, quick 3)")
    parser.add_argument("--torch-compile", choices=("auto", "on", "off"), default="auto",
                        help="also time torch.compile (auto: off with --quick)")
    parser.add_argument("--no-many", action="store_true", help="skip the vmapped-runs rows")
    parser.add_argument("--rewrite", action="store_true",
                        help="only re-render NAME.md from an existing NAME.json in --out")
    parser.add_argument("--name", help="output file stem (default: speed, on a GPU speed_gpu)")
    parser.add_argument("--splits", nargs="*", type=int,
                        help="time each chosen symmetry-aware row once per batch_splits "
                             "value given, instead of its tuned one")
    return parser


def _rewrite(out: pathlib.Path, name: str) -> None:
    """Re-renders NAME.md from NAME.json (after merging rows of several runs by hand)."""
    data = json.loads((out / f"{name}.json").read_text())
    reps = data["rows"][0]["reps"] if data["rows"] else 0
    notes = [data.get("notes") or f"Timed steps per row: {reps} (median)."]
    (out / f"{name}.md").write_text(markdown(data["matmul_peak_gflops"], data["rows"],
                                             data["many_runs"], notes))


def _chosen_cases(args) -> list[Case]:
    """The rows --only picks, without GPU-only rows on a CPU, shortened by --quick."""
    cases = []
    for case in _with_splits(CASES, args.splits):
        if args.only and not any(s in case.name for s in args.only):
            continue
        if case.gpu_only and not on_gpu():
            print(f"{case.name}: skipped on a CPU: {case.gpu_only}", flush=True)
            continue
        if args.quick and not case.train:
            case = dataclasses.replace(case, periods=500,
                                       name=case.name.replace("T5000", "T500"))
        cases.append(case)
    return cases


def main(argv=None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.splits and any(n < 1 for n in args.splits):
        parser.error(f"--splits: {args.splits}; allowed: positive integers dividing the batch")
    name = args.name or ("speed_gpu" if on_gpu() else "speed")
    out = pathlib.Path(args.out)
    if args.rewrite:
        return _rewrite(out, name)
    import torch

    if on_gpu():  # both frameworks: TF32 float32 matmuls (JAX's GPU default)
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            jax.config.update("jax_default_matmul_precision", "tensorfloat32")
        except Exception as error:  # noqa: BLE001 (JAX's default is TF32 on GPUs)
            print(f"jax_default_matmul_precision left as is: {error}", flush=True)

    reps = args.reps or (3 if args.quick else 10)
    compile_torch = args.torch_compile == "on" or (args.torch_compile == "auto" and not args.quick)
    peak = matmul_peak()
    print(f"matmul peak GFLOP/s: {peak}; torch threads {torch.get_num_threads()}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    notes = [f"Timed steps per row: {reps} (median), after one warm-up step, torch and "
             "invjax interleaved." + (" --quick." if args.quick else "")]

    def write(rows, many):  # after every row, so a long run that dies keeps what it did
        (out / f"{name}.json").write_text(json.dumps(
            {"device": device(), "matmul_peak_gflops": peak, "rows": rows,
             "many_runs": many, "notes": notes[0]}, indent=1))
        (out / f"{name}.md").write_text(markdown(peak, rows, many, notes))

    rows = []
    for case in _chosen_cases(args):
        row = run_case(case, reps, peak, compile_torch)
        rows.append(row)
        write(rows, [])
        release(torch)
        label = row["name"] + (f" s{case.splits}" if case.splits > 1 else "")
        print(f"{label:49s} torch {row['torch_ms']:9.1f} ms  invjax "
              f"{row['invjax_ms']:9.1f} ms  ratio {row['torch_over_invjax']:5.1f}x  "
              f"(invjax compile {row['invjax_compile_s']:.1f}s, "
              f"process {resident_gb():.1f} GB)", flush=True)
    many = [] if args.no_many else many_runs(args.quick)
    write(rows, many)
    print(f"wrote {out / name}.json and .md")

if __name__ == "__main__":
    main()
