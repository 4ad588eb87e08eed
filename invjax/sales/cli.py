"""`invjax train --data sales.csv ...`: train on a sales history and print the test
profit of the data-driven net, the newsvendor baselines and the oracle.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 7; SPEC §10.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np


def add_arguments(parser) -> None:
    """The sales options of `invjax train`."""
    group = parser.add_argument_group("sales data (with --data)")
    group.add_argument("--data", metavar="CSV",
                       help="a sales history (long: date,series,sales[,...]; or wide); "
                            "'shipped' for the data set that comes with invjax")
    group.add_argument("--layout", choices=("long", "wide"), help="default: detect")
    group.add_argument("--stores", type=int, default=1,
                       help="stores per warehouse: 1 = one store per series, n > 1 = one "
                            "warehouse with n stores (default 1)")
    group.add_argument("--warehouses", type=int,
                       help="warehouses per scenario, each with --stores stores (default "
                            "1 when --stores > 1)")
    for split in ("train", "dev", "test"):
        group.add_argument(f"--{split}", metavar="START:STOP",
                           help=f"{split} window, period indices or dates (default: the "
                                "paper's proportions, weeks 0-111, 88-141, 118-171 of 172)")
    group.add_argument("--steps", type=int, default=600, help="HDPO steps per policy")
    group.add_argument("--forecast-steps", type=int, default=3000,
                       help="pinball-loss steps of the quantile forecaster")
    group.add_argument("--policies", default=",".join(_policies()),
                       help="comma-separated subset of " + ",".join(_policies()))
    group.add_argument("--seed", type=int, default=0)


def _policies():
    from invjax.sales.compare import POLICIES

    return POLICIES


def _windows(args, history):
    from invjax.sales.windows import Windows, default_windows, parse_window

    default = default_windows(history.periods)
    return Windows(*(parse_window(getattr(args, name), history, f"--{name}")
                     if getattr(args, name) else w
                     for name, w in default._asdict().items()))


def run(args) -> int:
    """Runs the sales workflow for parsed `invjax train` arguments."""
    from invjax import device
    from invjax.sales import compare, history, synthetic
    from invjax.sales.train import SalesTrainConfig

    path = synthetic.shipped_path() if args.data == "shipped" else pathlib.Path(args.data)
    if not path.exists():
        raise ValueError(f"--data: no such file {path}")
    sales = history.read_csv(path, args.layout)
    policies = tuple(p.strip() for p in args.policies.split(",") if p.strip())
    report = compare.compare(
        sales, args.stores, warehouses=args.warehouses, windows=_windows(args, sales),
        policies=policies,
        config=SalesTrainConfig(steps=args.steps, forecast_steps=args.forecast_steps),
        seed=args.seed)
    print("\n".join(compare.summary_lines(report)))
    print(f"{report['seconds']:.0f} s on {device.describe()}")
    if args.out:
        out = pathlib.Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        keep = {k: v for k, v in report.items() if k not in ("policies", "setup")}
        keep["series_names"] = list(sales.series)
        (out / "sales_report.json").write_text(json.dumps(keep, indent=1, default=float))
        print(f"report: {out / 'sales_report.json'}")
    return 0 if np.isfinite(report["profit"]["oracle"]) else 1
