"""Command line: `invjax train | evaluate | list`.

    invjax train                                  # the default run (one_store_lost, L=4, p=9)
    invjax train one_warehouse symmetry_aware --set problem.n_stores=5 --out runs/ow5
    invjax train --config my_run.yaml
    invjax train --network examples/my_network.yaml vanilla
    invjax train --resume runs/ow5
    invjax train --data sales.csv --stores 3      # real sales data (profit vs newsvendor)
    invjax evaluate runs/ow5
    invjax list
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import sys


def _train(args) -> int:
    from invjax.train import run_config, runner

    if args.data:
        from invjax.sales import cli as sales_cli

        return sales_cli.run(args)
    if args.resume:
        from invjax.settings.user_network import read_yaml

        out = pathlib.Path(args.resume)
        if not (out / "config.yaml").exists():
            raise ValueError(f"--resume: {out} has no config.yaml")
        config = read_yaml(out / "config.yaml")
    else:
        if args.network:
            config = _network_config(args)
        elif args.config:
            config = run_config.load(args.config)
        elif args.authors_settings:
            from invjax.train import authors_config

            config = authors_config.load(args.authors_settings, args.authors_hyperparams)
        else:
            config = run_config.for_setting(args.setting, args.policy)
            if args.policy and config.get("policy", {}).get("name") != args.policy:
                config["policy"] = {"name": args.policy}
        config = run_config.apply_overrides(config, args.set or [])
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        setting = pathlib.Path(str(config.get("setting"))).stem  # a network file: its stem
        policy = config.get("policy")
        policy = policy.get("name", "default") if isinstance(policy, dict) else "default"
        name = f"{setting}-{policy}"
        out = pathlib.Path(args.out) if args.out else pathlib.Path("runs") / f"{name}-{stamp}"
    summary = runner.fit(config, out, resume=bool(args.resume), progress=not args.quiet,
                         data_parallel=args.data_parallel)
    _print_summary(summary, out)
    return 0


def _network_config(args) -> dict:
    """The run config of `--network FILE [POLICY]`: the file is the setting."""
    if args.config or args.authors_settings or (args.setting and args.policy):
        raise ValueError("--network: takes at most a policy, and no --config or "
                         "--authors-settings")
    from invjax import settings

    if not settings.is_network_file(args.network):
        raise ValueError(f"--network: expected a network file (.yaml or .yml), got "
                         f"{args.network!r}")
    policy = args.policy or args.setting  # `train --network FILE POLICY`
    return {"setting": args.network, "policy": {"name": policy} if policy else {},
            "trainer": {}}


def _print_summary(summary: dict, out) -> None:
    if "interrupted_at_epoch" in summary:
        print(f"stopped at epoch {summary['interrupted_at_epoch']}; resume with "
              f"`invjax train --resume {out}`")
        return
    line = f"test cost per store per period: {summary['test_cost']:.4f}"
    if summary.get("optimum") is not None:
        what = "lower bound" if summary.get("optimum_is_bound") else "optimum"
        line += f"   {what}: {summary['optimum']:.4f}   gap: {summary['gap_pct']:+.2f}%"
    print(line)
    if summary.get("best_dev_epoch") is not None:
        print(f"tested: the parameters of the best dev cost, {summary['best_dev']:.4f} at "
              f"epoch {summary['best_dev_epoch']}")
    print(f"{summary['epochs']} epochs, {summary['steps']} gradient steps, "
          f"{summary['wall_seconds']:.0f} s on {summary['device']}; run directory: {out}")


def _evaluate(args) -> int:
    from invjax.train import runner

    print(json.dumps(runner.evaluate_run(args.run_dir), indent=1))
    return 0


def _list(args) -> int:
    from invjax import policies, settings
    from invjax.train import run_config

    print("settings:", ", ".join(settings.names()))
    print("policies:", ", ".join(policies.names()))
    print("shipped configs:", ", ".join(run_config.shipped()))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="invjax", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command")
    train = commands.add_parser("train", help="train a policy by HDPO")
    train.add_argument("setting", nargs="?", help="a setting (see `invjax list`)")
    train.add_argument("policy", nargs="?", help="a policy (see `invjax list`)")
    train.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override, e.g. trainer.epochs=50 or problem.lead_time=3")
    train.add_argument("--config", help="a run config YAML (or a shipped config name)")
    train.add_argument("--network", metavar="FILE.yaml",
                       help="train on your own network (layout: examples/my_network.yaml)")
    train.add_argument("--authors-settings", help="a settings YAML in the authors' layout")
    train.add_argument("--authors-hyperparams", help="a hyperparameters YAML (authors' layout)")
    train.add_argument("--out", help="run directory (default runs/SETTING-POLICY-TIME)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--data-parallel", action="store_true",
                       help="split the scenarios over all devices (jax.sharding)")
    from invjax.sales.cli import add_arguments

    add_arguments(train)
    train.set_defaults(func=_train)
    evaluate = commands.add_parser("evaluate", help="test cost of a run's best parameters")
    evaluate.add_argument("run_dir")
    evaluate.set_defaults(func=_evaluate)
    listing = commands.add_parser("list", help="settings, policies and shipped configs")
    listing.set_defaults(func=_list)
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if not args.command:
        args = parser().parse_args(["train", *(argv or sys.argv[1:])])
    try:
        return args.func(args)
    except ValueError as error:
        print(f"invjax: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
