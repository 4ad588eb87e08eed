"""invjax at two revisions, side by side: the speed rows of `benchmarks.speed` timed on
the working tree and on a base revision, alternately, in fresh processes.

    python -m benchmarks.revisions [--base REV] [--only NAME ...] [--rounds 3] [--reps 10]
        [--order fixed|alternate|random] [--lockstep] [--name revisions]

A change to the dynamics, the rollout or a policy must leave every existing row as
fast as before. Timing both revisions in one run, interleaved round by round, gives
both the same machine load, unlike a comparison with committed figures taken on
another day. The base revision is checked out as a detached git worktree (kept under
the system's temporary folder); each (revision, row) is timed in its own process that
imports that revision's `invjax` and `benchmarks.speed` (PYTHONPATH first). A row
the base revision does not have is timed on the working tree only.

Within a round, `--order fixed` times base then head; `alternate` swaps which goes
first every round (an even number of rounds balances the order); `random` draws it per
round and row (seeded). Each timing records which went first. On a shared machine the
load changes within the seconds a round takes; `--lockstep` keeps one process per
revision alive and alternates single steps (the order of each pair by `--order`), so
each pair of steps sees nearly the same load; a round is then `--reps` pairs, and the
median of the per-pair ratios is reported too.

Writes `NAME.json` (per row: base and head median ms per step over the rounds'
medians, their ratio, every round's times and order) and `NAME.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import random
import subprocess
import sys
import tempfile

from invjax.device import describe

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

# Run in the child process: time one row of that revision's benchmarks.speed.
CHILD = """
import json, sys, jax
from benchmarks import speed
name, reps = sys.argv[1], int(sys.argv[2])
case = next((c for c in speed.CASES if c.name == name), None)
if case is None:
    print(json.dumps(None)); sys.exit(0)
problem, policy, params = case.build()
sc = speed.scenarios.sample(problem, jax.random.key(1), case.n, case.periods)
_, run, _ = speed.time_invjax(case, problem, policy, params, sc)
run(); run()
print(json.dumps(speed._median_ms(run, reps)))
"""

# --lockstep: the child builds and warms up the row, prints "ready", then times one step
# per line read from stdin.
SERVER = """
import json, sys, time, jax
from benchmarks import speed
case = next((c for c in speed.CASES if c.name == sys.argv[1]), None)
if case is None:
    print(json.dumps(None), flush=True); sys.exit(0)
problem, policy, params = case.build()
sc = speed.scenarios.sample(problem, jax.random.key(1), case.n, case.periods)
_, run, _ = speed.time_invjax(case, problem, policy, params, sc)
run(); run()
print(json.dumps("ready"), flush=True)
for _ in sys.stdin:
    start = time.perf_counter(); run()
    print(json.dumps(1e3 * (time.perf_counter() - start)), flush=True)
"""


def worktree(rev: str) -> pathlib.Path:
    """A detached worktree of `rev` (created once, reused)."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", rev], check=True,
                         capture_output=True, text=True).stdout.strip()
    path = pathlib.Path(tempfile.gettempdir()) / f"invjax-{sha[:12]}"
    if not (path / "invjax").exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), sha],
                       check=True, capture_output=True)
    return path


def time_row(tree: pathlib.Path, name: str, reps: int):
    """Median ms per step of row `name` at `tree`, or None if that revision lacks it."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", CHILD, name, str(reps)], cwd=tree, env=env,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def serve(tree: pathlib.Path, name: str):
    """A child process of `tree` that times one step of row `name` per line sent to it,
    or None if that revision lacks the row."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    child = subprocess.Popen([sys.executable, "-c", SERVER, name], cwd=tree, env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if json.loads(child.stdout.readline()) is None:
        child.wait()
        return None
    return child


def step(child) -> float:
    """ms of one step timed by a `serve` child."""
    child.stdin.write("go\n")
    child.stdin.flush()
    return json.loads(child.stdout.readline())


def lockstep(trees: dict, name: str, rounds: int, reps: int, order: str,
             rng: random.Random) -> dict:
    """Both revisions' children alive at once, single steps alternated: per round the
    median of `reps` steps of each, the first of each pair chosen by `order`."""
    children = {label: serve(tree, name) for label, tree in trees.items()}
    times = {"base": [], "head": [], "first": [], "pair_ratios": []}
    try:
        for r in range(rounds):
            steps = {"base": [], "head": []}
            for i in range(reps):
                first = first_in_round(order, r * reps + i, rng)
                times["first"].append(first)
                for label in (first, "head" if first == "base" else "base"):
                    if children[label] is not None:
                        steps[label].append(step(children[label]))
                if steps["base"]:
                    times["pair_ratios"].append(steps["head"][-1] / steps["base"][-1])
            for label in ("base", "head"):
                if steps[label]:
                    times[label].append(statistics.median(steps[label]))
            print(f"round {r + 1}: {name}: {steps}", flush=True)
    finally:
        for child in children.values():
            if child is not None:
                child.stdin.close()
                child.wait()
    return times


def first_in_round(order: str, r: int, rng: random.Random) -> str:
    """Which revision is timed first in round r (0-based): "base" or "head"."""
    if order == "fixed":
        return "base"
    if order == "alternate":
        return ("base", "head")[r % 2]
    return rng.choice(("base", "head"))


def write(out: pathlib.Path, name: str, meta: dict, rows: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps({**meta, "rows": rows}, indent=1))
    lines = [f"# invjax at two revisions ({meta['device']})", "",
             f"base {meta['base']} vs head {meta['head']}; median over {meta['rounds']} "
             f"interleaved rounds of the median of {meta['reps']} steps; order within a "
             f"round: {meta['order']}"
             + ("; lockstep: both processes alive, single steps alternated"
                if meta.get("lockstep") else "") + ".", "",
             "| row | base ms | head ms | head / base | median of per-pair head / base |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        base = "-" if r["base_ms"] is None else f"{r['base_ms']:.1f}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        pair = f"{r['median_pair_ratio']:.3f}" if "median_pair_ratio" in r else "-"
        lines.append(f"| {r['row']} | {base} | {r['head_ms']:.1f} | {ratio} | {pair} |")
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD~1", help="git revision to compare with")
    parser.add_argument("--only", nargs="*", help="rows whose name contains any of these")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--order", choices=("fixed", "alternate", "random"), default="fixed",
                        help="which revision is timed first in each round (see above)")
    parser.add_argument("--seed", type=int, default=0, help="for --order random")
    parser.add_argument("--name", default="revisions", help="output file stem")
    parser.add_argument("--lockstep", action="store_true",
                        help="keep both revisions' processes alive and alternate single "
                             "steps (`--order` per pair): both see the same load")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.reps < 1:
        parser.error("--rounds and --reps must be >= 1")
    sys.path.insert(0, str(ROOT))
    from benchmarks import speed

    names = [c.name for c in speed.CASES
             if not args.only or any(s in c.name for s in args.only)]
    base = worktree(args.base)
    head_rev = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                              capture_output=True, text=True).stdout.strip()
    times = {name: {"base": [], "head": [], "first": []} for name in names}
    trees = {"base": base, "head": ROOT}
    rng = random.Random(args.seed)
    for name in names if args.lockstep else []:
        times[name] = lockstep(trees, name, args.rounds, args.reps, args.order, rng)
    for r in range(0 if args.lockstep else args.rounds):
        for name in names:
            first = first_in_round(args.order, r, rng)
            times[name]["first"].append(first)
            for label in (first, "head" if first == "base" else "base"):
                ms = time_row(trees[label], name, args.reps)
                if ms is not None:
                    times[name][label].append(ms)
            print(f"round {r + 1}: {name}: {times[name]}", flush=True)
    rows = []
    for name in names:
        base_ms = statistics.median(times[name]["base"]) if times[name]["base"] else None
        head_ms = statistics.median(times[name]["head"])
        rows.append({"row": name, "base_ms": base_ms, "head_ms": head_ms,
                     "ratio": None if base_ms is None else head_ms / base_ms,
                     "base_all": times[name]["base"], "head_all": times[name]["head"],
                     "first_all": times[name]["first"]})
        if times[name].get("pair_ratios"):
            rows[-1]["pair_ratios"] = times[name]["pair_ratios"]
            rows[-1]["median_pair_ratio"] = statistics.median(times[name]["pair_ratios"])
    meta = {"base": args.base, "head": head_rev, "rounds": args.rounds, "reps": args.reps,
            "order": args.order, "lockstep": args.lockstep, "device": describe()}
    write(pathlib.Path(args.out), args.name, meta, rows)
    print((pathlib.Path(args.out) / f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()
