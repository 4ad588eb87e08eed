"""A run directory on disk: config, checkpoints (orbax), metrics and learning curve.

    RUN_DIR/config.yaml            the resolved run configuration
    RUN_DIR/checkpoints/last|best  TrainState (orbax), PRNG key as raw key data
    RUN_DIR/metrics.csv|json       one row per seed and dev evaluation
    RUN_DIR/learning_curve.png     train and dev cost (after warm-up) per evaluation
    RUN_DIR/summary.json           written by `invjax.train.runner.fit`

References: SPEC §4 (the command line and its run directory).
"""

from __future__ import annotations

import csv
import json
import pathlib
import shutil

import jax
import numpy as np
import yaml

from invjax.train.hdpo import TrainState


def _to_disk(state: TrainState) -> TrainState:
    return state.replace(key=jax.random.key_data(state.key))


def _from_disk(state: TrainState) -> TrainState:
    return state.replace(key=jax.random.wrap_key_data(state.key))


def save_checkpoint(path: pathlib.Path, state: TrainState) -> None:
    import orbax.checkpoint as ocp

    checkpointer = ocp.StandardCheckpointer()
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    checkpointer.save(tmp.resolve(), _to_disk(state))
    checkpointer.wait_until_finished()
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)


def load_checkpoint(path: pathlib.Path, like: TrainState) -> TrainState:
    import orbax.checkpoint as ocp

    if not path.exists():
        raise ValueError(f"checkpoint: {path} not found")
    target = _to_disk(like)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    try:
        restored = ocp.StandardCheckpointer().restore(path.resolve(), abstract)
    except (ValueError, KeyError, TypeError, FileNotFoundError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"checkpoint: {path} does not match this run's configuration "
                         f"(policy, seeds or estimator changed?): {first}") from None
    leaves = jax.tree.leaves(restored)
    return _from_disk(jax.tree.unflatten(jax.tree.structure(target), leaves))


def prepare_directory(out: pathlib.Path | None, config: dict, resume: bool) -> list[dict]:
    """Creates the run directory and writes `config.yaml`; on resume, the metrics so far."""
    if out is None:
        if resume:
            raise ValueError("resume: needs a run directory (out)")
        return []
    if resume and not (out / "checkpoints" / "last").exists():
        raise ValueError(f"--resume: {out} has no checkpoints/last to continue from")
    out.mkdir(parents=True, exist_ok=True)
    (out / "checkpoints").mkdir(exist_ok=True)
    rows = []
    if resume and (out / "metrics.json").exists():
        rows = json.loads((out / "metrics.json").read_text())
    with open(out / "config.yaml", "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    return rows


def write_metrics(out: pathlib.Path, rows: list[dict]) -> None:
    with open(out / "metrics.json", "w") as f:
        json.dump(rows, f, indent=1)
    with open(out / "metrics.csv", "w", newline="") as f:
        fields = list(dict.fromkeys(k for r in rows for k in r))  # resumed runs: old rows
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def y_limits(series: list[list[float]], optimum=None) -> tuple[float, float] | None:
    """A y-range showing every series: from the lowest value (or the optimum) to the
    highest of the series' 90th percentiles and last values (so a first evaluation far
    above the rest does not flatten the curves); None without finite values."""
    finite = [np.asarray(x, float)[np.isfinite(np.asarray(x, float))] for x in series]
    finite = [x for x in finite if x.size]
    if not finite:
        return None
    low = min([float(x.min()) for x in finite] + ([optimum] if optimum is not None else []))
    high = max(max(float(np.percentile(x, 90)), float(x[-1])) for x in finite)
    span = max(high - low, 1e-6 * max(abs(low), 1.0))
    return low - 0.05 * span, high + 0.1 * span


def plot_learning_curve(out: pathlib.Path, rows: list[dict], optimum=None) -> None:
    """Train and dev cost per dev evaluation, both after their warm-up periods."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    seeds = sorted({r["seed"] for r in rows})
    nan = float("nan")
    series = []
    for i, seed in enumerate(seeds):
        mine = [r for r in rows if r["seed"] == seed]
        epochs = [r["epoch"] for r in mine]
        label = f" seed {seed}" if len(seeds) > 1 else ""
        train = [r.get("train_cost", nan) for r in mine]
        dev = [r["dev_cost"] for r in mine]
        ax.plot(epochs, train, color=f"C{i}", alpha=0.5, label=f"train{label}")
        ax.plot(epochs, dev, "o-", color=f"C{i}", ms=3, label=f"dev{label}")
        series += [train, dev]
    if optimum is not None:
        ax.axhline(optimum, color="k", ls="--", lw=1, label=f"optimum {optimum:.3f}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cost per store per period, after warm-up")
    limits = y_limits(series, optimum)
    if limits:
        ax.set_ylim(*limits)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "learning_curve.png", dpi=110)
    plt.close(fig)
