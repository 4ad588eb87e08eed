"""How often does the GNN's initialisation shut a supply edge? The desired flow of every
supply edge at period 0, before any training, over many initialisations.

    python -m benchmarks.gnn_initial_flows [--only FAMILY ...] [--keys K] [--scenarios N]
                                           [--rounds R ...] [--out DIR] [--name NAME]

For every GNN cell of the v3 study (`benchmarks.v3_study`; same configuration): the
least-open supply edge of an initialisation is the smallest, over supply edges, of the
largest desired flow over N scenarios' period-0 states, in mean store demands. An
initialisation whose least-open edge is under `SHUT` (1e-3) ships nothing down that edge
in any scenario, and the gradient through its softplus is as small as the flow: training
cannot open it (`results/serial_chain7_gnn_1024_diagnosis.md`). Reports the share of K
random initialisations that start shut, their median least-open edge, and the same
figure for the initialisation of every GNN cell in `results/v3_study.json` (its own key
and training scenarios). `--rounds` repeats each cell with other message-passing depths
(default: the cell's own). Adds its rows to NAME.json (a rerun replaces the rows of the
same family, size and depth) and writes NAME.md from all of them.
"""

from __future__ import annotations

import argparse
import inspect
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import v3_study
from invjax.device import describe
from invjax.dynamics import State
from invjax.policies import gnn
from invjax.policies.graph import graph, rounds as default_rounds
from invjax.train import run_config
from invjax.train.hdpo import make_train

SHUT = 1e-3  # mean store demands
CHUNK = 25  # initialisations evaluated at once (memory: CHUNK x scenarios x graph)


def start_state(scenarios) -> State:
    """The observation of period 0 (the scenarios' initial state)."""
    s = scenarios
    return State(s.store_inventory, s.warehouse_inventory, s.echelon_inventory,
                 jnp.zeros((), jnp.int32), s.params, s.past_demand)


def desired_flows(network, options: dict, params, obs: State) -> jnp.ndarray:
    """The GNN's desired flows on the supply edges [n, supply edges], in mean store
    demands, before any allocation: the policy `gnn(problem, **options)` computes these
    and then scales them to on-hands."""
    defaults = {name: p.default for name, p in inspect.signature(gnn.gnn).parameters.items()
                if p.default is not inspect.Parameter.empty}
    o = {**defaults, **{k: v for k, v in options.items() if k != "name"}}
    g = graph(network)
    depth = o["rounds"] or default_rounds(network)
    module = gnn.GNN(g, tuple(o["hidden"]), o["embedding"], depth, o["activation"],
                     o["aggregation"], bool(o["save_activations"]))
    out = module.apply(params, gnn.node_inputs(network, obs), gnn.edge_lead_times(network, obs))
    return jax.nn.softplus(out + gnn.inverse_softplus(gnn.INITIAL_FLOW))[:, :g.n_supply]


def least_open(network, options, params, obs) -> jnp.ndarray:
    """The least-open supply edge: min over edges of the max over scenarios, []."""
    return desired_flows(network, options, params, obs).max(0).min()


def _cell(family: str, size: int, n_train: int, rounds):
    config = v3_study.cell_config(family, size, "gnn", n_train, 1, (8, 8, 0))
    config["policy"] = {**config["policy"], "rounds": rounds}
    problem, policy, train_config = run_config.build(config)
    return problem, policy, make_train(problem, policy, train_config), config["policy"]


def committed_cells(records: list[dict], family: str, size: int) -> list[tuple[int, int]]:
    """(training scenarios, seed) of the committed GNN cells of one family and size."""
    return sorted({(r["n_train_scenarios"], v3_study._field(r, "seed")) for r in records
                   if (r["family"], r["size"], r["policy"]) == (family, size, "gnn")})


def survey(family: str, size: int, rounds, n_keys: int, n_scenarios: int,
           committed: list[tuple[int, int]]) -> dict:
    problem, policy, trainer, options = _cell(family, size, n_scenarios, rounds)
    network = problem.structure.network
    obs = start_state(trainer.data(jax.random.key(12345))["train"])
    opening = jax.jit(jax.vmap(lambda k: least_open(network, options, policy.init(k), obs)))
    keys = jax.random.split(jax.random.key(7), n_keys)
    least = np.concatenate([opening(keys[i:i + CHUNK]) for i in range(0, n_keys, CHUNK)])
    own = {}
    for n_train, seed in committed if rounds is None else []:
        _, _, cell_trainer, _ = _cell(family, size, n_train, None)
        k_data, k_init = v3_study.start_keys(family, size, "gnn", n_train, seed)
        cell_obs = start_state(cell_trainer.data(k_data)["train"])
        params = cell_trainer.init(k_init).params
        own[f"{n_train} seed {seed}"] = float(least_open(network, options, params, cell_obs))
    return {"family": family, "size": size,
            "rounds": rounds or default_rounds(network), "default_rounds": rounds is None,
            "keys": n_keys, "scenarios": n_scenarios,
            "shut_share": float((least < SHUT).mean()),
            "median_least_open": float(np.median(least)),
            "committed_least_open": own, "device": describe()}


def markdown(rows: list[dict]) -> str:
    r0 = rows[0]
    lines = [f"# GNN initialisations that shut a supply edge ({r0['device']})", "",
             f"`python -m benchmarks.gnn_initial_flows`: {r0['keys']} random initialisations "
             f"per cell, desired flows at period 0 of {r0['scenarios']} training scenarios, "
             "in mean store demands. Least-open edge: the smallest, over supply edges, of "
             f"the largest desired flow over scenarios; shut: under {SHUT:g}. Committed: "
             "the initialisation of each GNN cell of `v3_study.json` (its key and training "
             "scenarios).", "",
             "| family | size | rounds | shut | median least-open | committed cells' least-open |",
             "|---|---:|---:|---:|---:|---|"]
    order = lambda r: (list(v3_study.FAMILIES).index(r["family"]), r["size"],  # noqa: E731
                       not r["default_rounds"], r["rounds"])
    for r in sorted(rows, key=order):
        own = "; ".join(f"{k}: {v:.3g}" for k, v in r["committed_least_open"].items()) or "-"
        depth = f"{r['rounds']}" + ("" if r["default_rounds"] else " (set)")
        lines.append(f"| {r['family']} | {r['size']} | {depth} | {100 * r['shut_share']:.1f}% "
                     f"| {r['median_least_open']:.3g} | {own} |")
    return "\n".join(lines + [""])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=list(v3_study.FAMILIES), help="families")
    parser.add_argument("--sizes", nargs="*", type=int, help="sizes to keep")
    parser.add_argument("--keys", type=int, default=200, help="initialisations per cell")
    parser.add_argument("--scenarios", type=int, default=32, help="period-0 states")
    parser.add_argument("--rounds", nargs="*", type=int, default=[],
                        help="message-passing depths to try besides each cell's own")
    parser.add_argument("--out", default=str(v3_study.RESULTS))
    parser.add_argument("--name", default="gnn_initial_flows")
    args = parser.parse_args(argv)
    if min([args.keys, args.scenarios, *args.rounds]) < 1:
        parser.error("--keys, --scenarios and --rounds take positive integers")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    study = out / "v3_study.json"
    records = json.loads(study.read_text()) if study.exists() else []
    path = out / f"{args.name}.json"
    for family, (_, _, sizes, _, policies) in v3_study.FAMILIES.items():
        if "gnn" not in policies or (args.only and family not in args.only):
            continue
        for size in [s for s in sizes if not args.sizes or s in args.sizes]:
            for rounds in [None, *args.rounds]:
                row = survey(family, size, rounds, args.keys, args.scenarios,
                             committed_cells(records, family, size))
                rows = v3_study.save_record(path, row, ("family", "size", "rounds"))
                (out / f"{args.name}.md").write_text(markdown(rows))
                print(markdown([row]).splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
