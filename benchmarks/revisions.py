"""invjax at two revisions, side by side: the speed rows of `benchmarks.speed` timed on
the working tree and on a base revision, alternately, in fresh processes.

    python -m benchmarks.revisions [--base REV] [--only NAME ...] [--rounds 3] [--reps 10]

A change to the dynamics, the rollout or a policy must leave every existing row as
fast as before. Timing both revisions in one run, interleaved round by round, gives
both the same machine load, unlike a comparison with committed figures taken on
another day. The base revision is checked out as a detached git worktree (kept under
the system's temporary folder); each (revision, row) is timed in its own process that
imports that revision's `invjax` and `benchmarks.speed` (PYTHONPATH first). A row
the base revision does not have is timed on the working tree only.

Writes `revisions.json` (per row: base and head median ms per step over the rounds'
medians, their ratio) and `revisions.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
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


def write(out: pathlib.Path, meta: dict, rows: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "revisions.json").write_text(json.dumps({**meta, "rows": rows}, indent=1))
    lines = [f"# invjax at two revisions ({meta['device']})", "",
             f"base {meta['base']} vs head {meta['head']}; median over {meta['rounds']} "
             f"interleaved rounds of the median of {meta['reps']} steps.", "",
             "| row | base ms | head ms | head / base |", "|---|---:|---:|---:|"]
    for r in rows:
        base = "-" if r["base_ms"] is None else f"{r['base_ms']:.1f}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(f"| {r['row']} | {base} | {r['head_ms']:.1f} | {ratio} |")
    (out / "revisions.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD~1", help="git revision to compare with")
    parser.add_argument("--only", nargs="*", help="rows whose name contains any of these")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--out", default=str(RESULTS))
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
    times = {name: {"base": [], "head": []} for name in names}
    for r in range(args.rounds):
        for name in names:
            for label, tree in (("base", base), ("head", ROOT)):
                ms = time_row(tree, name, args.reps)
                if ms is not None:
                    times[name][label].append(ms)
            print(f"round {r + 1}: {name}: {times[name]}", flush=True)
    rows = []
    for name in names:
        base_ms = statistics.median(times[name]["base"]) if times[name]["base"] else None
        head_ms = statistics.median(times[name]["head"])
        rows.append({"row": name, "base_ms": base_ms, "head_ms": head_ms,
                     "ratio": None if base_ms is None else head_ms / base_ms,
                     "base_all": times[name]["base"], "head_all": times[name]["head"]})
    meta = {"base": args.base, "head": head_rev, "rounds": args.rounds, "reps": args.reps,
            "device": describe()}
    write(pathlib.Path(args.out), meta, rows)
    print((pathlib.Path(args.out) / "revisions.md").read_text())


if __name__ == "__main__":
    main()
