"""Real-data benchmark (SPEC §10) on the shipped sales history: test profit of the
data-driven net (HDPO) and of each generalised newsvendor policy, as % of the
just-in-time oracle's, one store per series, one warehouse with n stores, and m
warehouses with n stores each.

    python -m benchmarks.sales [--steps 600] [--stores 1,3,5,10,21] [--many 2x5]
                               [--name sales] [--out benchmarks/results]

Writes `NAME.json` (one record per setting, with per-series profits) and `NAME.md`.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

from invjax.device import describe
from invjax.sales import compare
from invjax.sales.history import read_csv
from invjax.sales.synthetic import SHIPPED, shipped_path
from invjax.sales.train import SalesTrainConfig

RESULTS = pathlib.Path(__file__).parent / "results"


def _markdown(records: list, meta: dict) -> str:
    names = [n for n in (*compare.POLICIES, "oracle") if n in records[0]["pct_oracle"]]
    head = "| setting | " + " | ".join(compare.LABELS[n] for n in names) + " | best |"
    lines = [
        "# Real sales data: test profit as % of the just-in-time oracle",
        "",
        f"Data: `{meta['data']}` (shipped synthetic history, {meta['series']} weekly series); "
        f"windows {meta['windows']}; HDPO {meta['steps']} full-batch Adam steps per "
        f"trained policy, forecaster {meta['forecast_steps']} pinball steps; seed "
        f"{meta['seed']}. Device: {meta['device']}. Total {meta['seconds']:.0f} s.",
        "Profit per store per period on the test window (after 16 warm-up weeks) divided "
        "by the oracle's on the same scenarios; the oracle orders exactly the demand that "
        "will come (not admissible).",
        "",
        head,
        "|" + "---|" * (len(names) + 2),
    ]
    for r in records:
        m = r.get("warehouses", int(r["warehouse"]))
        setting = ("one store per series" if not m else
                   f"warehouse, n = {r['n_stores']} ({r['scenarios']} scenarios)" if m == 1
                   else f"{m} warehouses, n = {r['n_stores']} each ({r['scenarios']} scenarios)")
        admissible = {n: r["pct_oracle"][n] for n in names if n != "oracle"}
        best = max(admissible, key=admissible.get)
        cells = [f"{r['pct_oracle'][n]:.1f}%" for n in names]
        lines.append(f"| {setting} | " + " | ".join(cells) + f" | {compare.LABELS[best]} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--forecast-steps", type=int, default=3000)
    ap.add_argument("--stores", default="1,3,5,10,21",
                    help="stores per setting: 1 = one per series, n > 1 = one warehouse")
    ap.add_argument("--many", default="", help="MxN,...: M warehouses with N stores each")
    ap.add_argument("--name", default="sales", help="basename of the result files")
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    history = read_csv(shipped_path())
    config = SalesTrainConfig(steps=args.steps, forecast_steps=args.forecast_steps)
    started = time.time()
    records = []
    settings = [(int(x), None) for x in args.stores.split(",") if x]
    settings += [(int(x.split("x")[1]), int(x.split("x")[0])) for x in args.many.split(",")
                 if x]
    for n, warehouses in settings:
        report = compare.compare(history, n, config=config, seed=args.seed,
                                 repeats=args.repeats, warehouses=warehouses)
        record = {k: v for k, v in report.items() if k not in ("policies", "setup")}
        records.append(record)
        print("\n".join(compare.summary_lines(report)), f"({report['seconds']:.0f} s)",
              flush=True)
    meta = {"data": SHIPPED, "series": len(history.series), "steps": args.steps,
            "forecast_steps": args.forecast_steps, "seed": args.seed,
            "repeats": args.repeats, "device": describe(),
            "windows": records[0]["windows"], "seconds": time.time() - started,
            "series_names": list(history.series)}
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps({"meta": meta, "records": records},
                                                      indent=1))
    (out / f"{args.name}.md").write_text(_markdown(records, meta))
    print(f"wrote {out / args.name}.json and .md")


if __name__ == "__main__":
    main()
