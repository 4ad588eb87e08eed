"""Speed of the GNN policy's HDPO step (SPEC §8): invjax with both aggregations against
the PyTorch port (eager and torch.compile) and the authors' figure on this CPU.

    python -m benchmarks.gnn [--reps N] [--only NAME ...] [--torch-compile on] [--out DIR]

Writes `gnn_speed.json` and `gnn_speed.md`. The authors' GNN, measured on this 2-core
CPU: 5.5-6.4 s per step on many_warehouses 2 x 10, batch 1,024, T = 50 (the issue's
figure; their code is not run here).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import statistics
import time

import jax

from benchmarks import speed
from invjax import scenarios
from invjax.device import describe

RESULTS = pathlib.Path(__file__).parent / "results"
AUTHORS_SECONDS = (5.5, 6.4)  # authors' GNN step, many_warehouses 2 x 10, b1024, T50
CASES = [c for c in speed.CASES if c.policy == "gnn"]


VARIANTS = {  # column -> (policy options beside the row's, batch splits)
    "invjax_matmul_ms": ((("aggregation", "matmul"),), 1),
    "invjax_saved_ms": ((("save_activations", True),), 1),
    "invjax_splits2_ms": ((), 2),
}


def variant_ms(case: speed.Case, variant: tuple, reps: int) -> float:
    """Median ms of invjax's step with extra policy options and batch splits."""
    options, splits = variant
    case = dataclasses.replace(case, options=case.options + options, splits=splits)
    problem, policy, params = case.build()
    sc = scenarios.sample(problem, jax.random.key(1), case.n, case.periods)
    _, run, _ = speed.time_invjax(case, problem, policy, params, sc)
    run()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        times.append(1e3 * (time.perf_counter() - start))
    return statistics.median(times)


COMPILE_NOTE = ("torch.compile: not timed here; on this CPU with torch 2.13.0 the "
                "inductor-compiled backward of the port's GNN aborted the process (glibc "
                "'corrupted size vs. prev_size'), so `--torch-compile on` is for other machines.")


def markdown(rows: list, device: str, peak: dict, notes=()) -> str:
    best = max(peak.values())
    lines = [f"# GNN HDPO step ({device})", "",
             f"Authors' GNN on this CPU: {AUTHORS_SECONDS[0]}-{AUTHORS_SECONDS[1]} s per step "
             "(many_warehouses 2 x 10, batch 1,024, T = 50).", "",
             "invjax default: `segment_sum` aggregation, activations recomputed in the "
             "backward pass, one rollout per step; matmul: incidence-table products "
             "(`aggregation=\"matmul\"`); saved: `save_activations=True`; 2 splits: "
             "`trainer.batch_splits=2`.", "",
             f"Matmul floor: the step's matmul FLOPs at this machine's measured peak "
             f"({best:.0f} GFLOP/s).", *notes, "",
             "| row | invjax ms | matmul ms | saved ms | 2 splits ms | torch eager ms | "
             "torch.compile ms | torch eager / invjax | authors / invjax | matmul floor ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        authors = (f"{1e3 * AUTHORS_SECONDS[0] / r['invjax_ms']:.0f}x" if
                   r["name"].startswith("many_warehouses") else "-")
        compiled = r.get("torch_compile_ms")
        lines.append(
            f"| {r['name']} | {r['invjax_ms']:.0f} | {r['invjax_matmul_ms']:.0f} | "
            f"{r['invjax_saved_ms']:.0f} | {r['invjax_splits2_ms']:.0f} | "
            f"{r['torch_ms']:.0f} | {'-' if compiled is None else f'{compiled:.0f}'} | "
            f"{r['torch_over_invjax']:.2f}x | {authors} | "
            f"{r['matmul_gflop_per_step'] / best * 1e3:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="rows whose name contains any of these")
    parser.add_argument("--torch-compile", choices=("on", "off"), default="off")
    parser.add_argument("--rewrite", action="store_true", help="re-render gnn_speed.md only")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    if args.rewrite:
        data = json.loads((out / "gnn_speed.json").read_text())
        notes = [] if args.torch_compile == "on" else [COMPILE_NOTE]
        (out / "gnn_speed.md").write_text(markdown(data["rows"], data["device"],
                                                   data["matmul_peak_gflops"], notes))
        return
    peak = speed.matmul_peak()
    rows = []
    for case in CASES:
        if args.only and not any(s in case.name for s in args.only):
            continue
        row = speed.run_case(case, args.reps, peak, args.torch_compile == "on")
        for column, variant in VARIANTS.items():
            row[column] = variant_ms(case, variant, args.reps)
        rows.append(row)
        print(case.name, {k: round(v) for k, v in row.items()
                          if k.endswith("_ms") and v is not None}, flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gnn_speed.json").write_text(json.dumps(
        {"device": describe(), "matmul_peak_gflops": peak, "authors_seconds": AUTHORS_SECONDS,
         "rows": rows}, indent=1))
    notes = [] if args.torch_compile == "on" else [COMPILE_NOTE]
    (out / "gnn_speed.md").write_text(markdown(rows, describe(), peak, notes))


if __name__ == "__main__":
    main()
