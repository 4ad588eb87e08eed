"""Where one speed row's invjax step spends its time: XLA operations by time per step.

    python -m benchmarks.profile_step ROW [--splits K] [--steps 3] [--top 25]
                                      [--out benchmarks/results] [--name NAME]

ROW is the start of a `benchmarks.speed` row name (e.g. "one_warehouse n5 symmetry").
The row's jitted step (the same function `speed.py` times) runs under `jax.profiler`;
the trace's XLA operations are summed by name over `--steps` steps and joined to the
compiled HLO, which says what each is (its shape, and the JAX operation and model
layer it came from: "transpose(...)" in the name marks the backward pass). Writes
NAME.json and NAME.md (default `profile_` + the row's name). For a single-core
profile, pin it: `taskset -c 0` with XLA_FLAGS=--xla_cpu_multi_thread_eigen=false.
On long rollouts (5,000 periods) the profiler keeps only part of the events: the calls
column says how many, so read the shares, not the totals.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import gzip
import json
import pathlib
import re
import tempfile
import time

import jax

from benchmarks import speed
from invjax import scenarios
from invjax.device import describe as device

HLO_LINE = re.compile(r"^\s*(?:ROOT )?%([\w.\-]+) = (\S+) .*?op_name=\"([^\"]*)\"")


def hlo_ops(text: str) -> dict:
    """{HLO instruction name: (shape, JAX op_name)} from a compiled module's text."""
    ops = {}
    for line in text.splitlines():
        match = HLO_LINE.match(line)
        if match:
            name, shape, op_name = match.groups()
            ops[name] = (shape, describe(op_name))
    return ops


def describe(op_name: str) -> str:
    """"backward: <layer>/<op>" or "forward: ..." from an HLO op_name (the pass, then
    the path inside the rollout's period)."""
    where = "backward" if "transpose(jvp(" in op_name else "forward"
    inner = re.split(r"closed_call/(?:checkpoint/)?", op_name)[-1]
    return f"{where}: {inner.replace('jit(step)/', '')}"


def trace_totals(directory: str, steps: int) -> tuple[dict, dict]:
    """({event name: microseconds per step}, {event name: calls per step}) of the
    complete ("X") events in the profiler's trace under `directory`."""
    (path,) = pathlib.Path(directory).rglob("*.trace.json.gz")
    events = json.loads(gzip.decompress(path.read_bytes()))
    events = events["traceEvents"] if isinstance(events, dict) else events
    micros, calls = collections.Counter(), collections.Counter()
    for event in events:
        if event.get("ph") == "X":
            micros[event["name"]] += event.get("dur", 0) / steps
            calls[event["name"]] += 1 / steps
    return micros, calls


def profile(row: str, splits: int | None, steps: int) -> dict:
    """The row's step, timed op by op; ops not in the HLO (runtime events) are left out."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: {steps!r}; allowed: a positive integer")
    matches = [c for c in speed.CASES if c.name.startswith(row)]
    if not matches:
        raise ValueError(f"row: no speed row starts with {row!r}; allowed: "
                         f"{[c.name for c in speed.CASES]}")
    case = matches[0]
    if splits is not None:
        case = dataclasses.replace(case, splits=splits)
    problem, policy, params = case.build()
    sc = scenarios.sample(problem, jax.random.key(1), case.n, case.periods)
    fn, args = speed.invjax_step(case, problem, policy, params, sc)
    compiled = fn.lower(*args).compile()
    ops = hlo_ops(compiled.as_text())
    run = lambda: jax.block_until_ready(compiled(*args))  # noqa: E731
    for _ in range(2):  # warm-up
        run()
    with tempfile.TemporaryDirectory() as directory:
        with jax.profiler.trace(directory, create_perfetto_trace=True):
            start = time.perf_counter()
            for _ in range(steps):
                run()
            step_ms = (time.perf_counter() - start) / steps * 1e3
        micros, calls = trace_totals(directory, steps)
    loops = {name: us for name, us in micros.items() if name.startswith("while")}
    rows = [{"op": name, "ms": us / 1e3, "calls": round(calls[name]), "shape": ops[name][0],
             "from": ops[name][1]}
            for name, us in micros.most_common() if name in ops and name not in loops]
    return {"row": case.name, "splits": case.splits, "steps": steps, "device": device(),
            "step_ms": step_ms,
            "loops_ms": {name: us / 1e3 for name, us in loops.items()}, "ops": rows}


def markdown(result: dict, top: int) -> str:
    lines = [f"# Where the step's time goes: {result['row']} (batch_splits={result['splits']})",
             "", f"Device: {result['device']}. Mean of {result['steps']} steps under "
             f"`jax.profiler`; step {result['step_ms']:.1f} ms (wall, profiler on); loops "
             "(forward and backward scans over the periods): " + ", ".join(
                 f"{k} {v:.1f} ms" for k, v in result["loops_ms"].items()) + ".", "",
             "| op | ms per step | calls | shape | from |", "|---|---:|---:|---|---|"]
    for r in result["ops"][:top]:
        lines.append(f"| {r['op']} | {r['ms']:.1f} | {r['calls']} | {r['shape']} | "
                     f"{r['from']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("row", help="start of a benchmarks.speed row name")
    parser.add_argument("--splits", type=int, help="batch_splits (default: the row's)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", default=str(speed.RESULTS))
    parser.add_argument("--name")
    args = parser.parse_args(argv)
    if args.top < 1:
        parser.error(f"--top: {args.top}; allowed: a positive integer (table rows)")
    result = profile(args.row, args.splits, args.steps)
    name = args.name or "profile_" + re.sub(r"\W+", "_", result["row"]).strip("_")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=1))
    (out / f"{name}.md").write_text(markdown(result, args.top))
    print(markdown(result, args.top))


if __name__ == "__main__":
    main()
