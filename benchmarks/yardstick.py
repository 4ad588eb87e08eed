"""A heuristic yardstick for the v3 study's transshipment cells: the base-stock policy with
proportional allocation, trained on the same networks, beside the GNN's cells.

    python -m benchmarks.yardstick [--sizes N ...] [--starts NAME ...] [--test N T WARM]
                                   [--epochs N] [--out DIR] [--name NAME]

Each cell is a v3 transshipment network (`v3_study.cell_config`: the same store
parameters, so the same SPEC §6 bound) with the shipped `base_stock_allocation` run
configuration (one level per store and one for the centre, 32,768 training scenarios,
its own step budget), trained from two starts: "shipped", the policy's own (every level
at 10 units, the centre's at 10 per store), and "relaxation", the levels of the bound's
relaxation (`benchmarks.optima.transshipment_relaxation`). The cost is not convex in the
levels (the allocation is proportional), so the starts can end apart. A policy this
simple is what a trained net must beat: where the GNN's cell costs more, the net's
training, not the network, is the limit. Writes NAME.json and NAME.md; cells already
there are replaced when rerun, kept otherwise. The markdown sets each size beside the
GNN's 128-scenario cell of `v3_study.json`.
"""

from __future__ import annotations

import argparse
import json
import pathlib

import jax

from benchmarks import v3_study
from benchmarks.networks import train_and_test
from benchmarks.optima import transshipment_relaxation
from invjax import optimal
from invjax.device import describe
from invjax.train import run_config

FAMILY = "transshipment"
POLICY = "base_stock_allocation"
STARTS = ("shipped", "relaxation")


def cell_config(size: int, test: tuple, epochs: int | None = None) -> dict:
    """The shipped heuristic run on the v3 cell's network, tested as the v3 cells are."""
    problem = v3_study.cell_config(FAMILY, size, "gnn", 128, 1, test)["problem"]
    config = run_config.for_setting(FAMILY, POLICY)
    trainer = {**config["trainer"], "test": list(test)}
    if epochs is not None:
        trainer["epochs"] = epochs
    return {**config, "problem": problem, "trainer": trainer}


def run_cell(size: int, start: str, test: tuple, epochs: int | None = None) -> dict:
    problem, policy, config = run_config.build(cell_config(size, test, epochs))
    if start == "relaxation":
        levels = transshipment_relaxation(problem)[1]
        policy = policy._replace(init=lambda key: levels)
    key = jax.random.fold_in(jax.random.key(0), size)  # both starts see the same data
    state, cost, seconds = train_and_test(problem, policy, config, key)
    bound = optimal.known(problem).cost
    return {
        "family": FAMILY, "size": size, "policy": POLICY, "start": start,
        "test_cost": cost, "best_dev": float(state.best_dev), "bound": bound,
        "gap_pct": 100.0 * (cost / bound - 1.0),
        "steps": int(state.epoch) * config.steps_per_epoch, "seconds": seconds,
        "learning_rate": config.learning_rate, "train": list(config.train),
        "test": list(config.test), "device": describe(),
    }


def markdown(records: list[dict], gnn: dict) -> str:
    """`gnn`: {size: test cost of the GNN's 128-scenario v3 transshipment cell}."""
    devices = "; ".join(sorted({r["device"] for r in records}))
    tests = sorted({tuple(r["test"]) for r in records})
    lines = [f"# Heuristic yardstick for the v3 transshipment cells ({devices})", "",
             "The base-stock policy with proportional allocation (`base_stock_allocation`, "
             "shipped run configuration) trained on each v3 transshipment network from its "
             "own start and from the bound's relaxation levels, beside the GNN's "
             "128-scenario cell of `v3_study.md`. Test cost per store-period and its gap "
             "to the SPEC §6 bound; test scenarios x periods (warm-up): "
             + ", ".join(f"{n} x {t} ({w})" for n, t, w in tests) + ".", "",
             "| n | bound | " + " | ".join(f"heuristic, {s} start" for s in STARTS)
             + " | GNN @ 128 | GNN vs the better heuristic |", "|---" * (len(STARTS) + 4) + "|"]
    for size in sorted({r["size"] for r in records}):
        cells = {r["start"]: r for r in records if r["size"] == size}
        bound = next(iter(cells.values()))["bound"]
        shown = [f"{v3_study.format_cost(cells[s]['test_cost'])} ({cells[s]['gap_pct']:+.2f}%)"
                 if s in cells else "" for s in STARTS]
        best = min(r["test_cost"] for r in cells.values())
        other = gnn.get(size)
        net = versus = ""
        if other is not None:
            net = f"{v3_study.format_cost(other)} ({100 * (other / bound - 1):+.2f}%)"
            versus = f"{100 * (other / best - 1):+.2f}%"
        lines.append(f"| {size} | {bound:.3f} | " + " | ".join(shown) + f" | {net} | {versus} |")
    return "\n".join(lines) + "\n"


def gnn_cells(path: pathlib.Path) -> dict:
    if not path.exists():
        return {}
    return {r["size"]: r["test_cost"] for r in json.loads(path.read_text())
            if (r["family"], r["policy"], r["n_train_scenarios"]) == (FAMILY, "gnn", 128)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", type=int, help="sizes to keep")
    parser.add_argument("--starts", nargs="*", choices=STARTS, default=list(STARTS))
    parser.add_argument("--test", nargs=3, type=int, default=[2048, 2000, 500],
                        metavar=("N", "T", "WARM"), help="as the v3 study's CPU column")
    parser.add_argument("--epochs", type=int, help="instead of the shipped budget")
    parser.add_argument("--out", default=str(v3_study.RESULTS))
    parser.add_argument("--name", default="v3_yardstick")
    args = parser.parse_args(argv)
    if any(n < 1 for n in args.test) or (args.epochs is not None and args.epochs < 1):
        parser.error("--test and --epochs take positive integers")
    sizes = v3_study.FAMILIES[FAMILY][2]
    if args.sizes and not set(args.sizes) <= set(sizes):
        parser.error(f"--sizes: not a v3 transshipment size {sorted(set(args.sizes) - set(sizes))}"
                     f"; allowed: {list(sizes)}")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{args.name}.json"
    for size in sizes:
        if args.sizes and size not in args.sizes:
            continue
        for start in args.starts:
            record = run_cell(size, start, tuple(args.test), args.epochs)
            print(f"{FAMILY} {size} {start}: {record['test_cost']:.4f} "
                  f"({record['gap_pct']:+.2f}%, {record['steps']} steps, "
                  f"{record['seconds']:.0f} s)", flush=True)
            v3_study.save_record(path, record, ("size", "start"))
    records = json.loads(path.read_text()) if path.exists() else []
    (out / f"{args.name}.md").write_text(
        markdown(records, gnn_cells(v3_study.RESULTS / "v3_study.json")))


if __name__ == "__main__":
    main()
