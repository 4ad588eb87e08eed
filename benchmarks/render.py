"""Paper-table records (`benchmarks.paper_tables`) as Markdown: one row per cell, a
sample-efficiency summary for one_warehouse, and a gap-by-estimator summary where a grid
ran several estimators."""

from __future__ import annotations

import json
import pathlib

import numpy as np

SETTINGS = ("one_store_backlogged", "one_store_lost", "serial", "transshipment",
            "one_warehouse")


def _group_by(rows, key) -> dict:
    """{key(r): [the rows with that key, in order]}."""
    groups = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    return groups


def _mean_by(rows, key, field: str) -> dict:
    """{key(r): the mean of r[field] over the rows (seeds) with that key}."""
    return {k: float(np.mean([r[field] for r in group]))
            for k, group in _group_by(rows, key).items()}


def _sample_efficiency(rows: list[dict]) -> list[str]:
    """One line per number of stores, one column per (policy, training scenarios): the
    test cost (mean over seeds) and its excess over the best cell of that line."""
    columns = sorted({(r["policy"], r["n_train_scenarios"]) for r in rows})
    head = " | ".join(f"{p} @ {t}" for p, t in columns)
    lines = ["Sample efficiency: test cost per store-period (excess over the row's best).", "",
             f"| n | {head} |", "|---" * (len(columns) + 1) + "|"]
    for n in sorted({r["n_stores"] for r in rows}):
        cost = _mean_by([r for r in rows if r["n_stores"] == n],
                        lambda r: (r["policy"], r["n_train_scenarios"]), "test_cost")
        best = min(cost.values())
        cells = [f"{cost[c]:.3f} (+{100 * (cost[c] / best - 1):.1f}%)" if c in cost else ""
                 for c in columns]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return lines + [""]


def _by_estimator(rows: list[dict]) -> list[str]:
    """One line per (L, p), one gap column per estimator, and how often each is ahead."""
    estimators = sorted({r["estimator"] for r in rows})
    gap = _mean_by(rows, lambda r: (r["lead_time"], r["underage_cost"], r["estimator"]),
                   "gap_pct")
    cells = sorted({(r["lead_time"], r["underage_cost"]) for r in rows})
    lines = ["Gap % by estimator (same steps and net; same data where keys are per row).", "",
             "| L | p | " + " | ".join(estimators) + " |", "|---" * (len(estimators) + 2) + "|"]
    wins = dict.fromkeys(estimators, 0)
    for lead, p in cells:
        gaps = [gap.get((lead, p, e)) for e in estimators]
        if None not in gaps:
            wins[estimators[int(np.argmin(gaps))]] += 1
        shown = ["" if g is None else f"{g:+.2f}" for g in gaps]
        lines.append(f"| {lead} | {p:g} | " + " | ".join(shown) + " |")
    lines += ["", "Lower gap in " + ", ".join(f"{e}: {w}" for e, w in wins.items())
              + f" of {len(cells)} cells.", ""]
    return lines


def keys(meta: dict) -> str:
    return meta.get("keys", "sequential")  # tables from before row keys drew them in order


def _seed(r: dict) -> int:
    return r.get("seed", 0)  # records from before seeds were recorded ran with --seed 0


def _cell(r: dict):
    """What identifies a cell apart from its seed."""
    return (r["policy"], r["estimator"], r["n_stores"], r["lead_time"],
            r.get("correlation", 0.0), r["underage_cost"], r["n_train_scenarios"])


def _order(r: dict):
    return _cell(r), _seed(r)


def _steps(r: dict) -> str:
    """Steps trained, and where the tested (best dev) parameters were seen if recorded."""
    best = r.get("best_dev_step")
    return f"{r['steps']}" + ("" if best is None else f" (best {best})")


def _by_seed(rows: list[dict]) -> list[str]:
    """One line per cell run with several seeds: its gap (or test cost) per seed, their
    mean and their range (max - min)."""
    by_cell = _group_by(sorted(rows, key=_order), _cell)
    with_gap = all(r["gap_pct"] is not None for r in rows)
    unit, value, form = ("gap %", lambda r: r["gap_pct"], "+.2f") if with_gap else (
        "test cost", lambda r: r["test_cost"], ".4f")
    lines = [f"Seed spread: {unit} (seed) per seed; same instance, steps and net.", "",
             f"| policy | estimator | n | L | p | rho | train | {unit} (seed) | mean | range |",
             "|---" * 10 + "|"]
    for (policy, estimator, n, lead, _, p, train), cells in by_cell.items():
        if len(cells) < 2:
            continue
        values = [value(r) for r in cells]
        shown = ", ".join(f"{value(r):{form}} ({_seed(r)})" for r in cells)
        rho = cells[0].get("correlation", "")
        lines.append(f"| {policy} | {estimator} | {n} | {lead} | {p:g} | {rho} | {train} | "
                     f"{shown} | {np.mean(values):{form}} | {np.ptp(values):{form.lstrip('+')}} |")
    return lines + [""]


def markdown(records: list[dict]) -> str:
    """Per setting (in SETTINGS order): the summaries that apply, then one row per cell."""
    lines = []
    for setting in SETTINGS:
        rows = [r for r in records if r["setting"] == setting]
        if not rows:
            continue
        lines += [f"### {setting}", ""]
        if setting == "one_warehouse":
            lines += _sample_efficiency(rows)
        if len({r["estimator"] for r in rows}) > 1 and all(r["optimum"] for r in rows):
            lines += _by_estimator(rows)
        seeds = len({_seed(r) for r in rows}) > 1
        if seeds:
            lines += _by_seed(rows)
        lines += ["| policy | estimator | n | L | p | rho | train | test cost | optimum | gap % "
                  "| steps (best dev) | s/cell |" + (" seed |" if seeds else ""),
                  "|---" * (13 if seeds else 12) + "|"]
        for r in sorted(rows, key=_order):
            opt = "" if r["optimum"] is None else f"{r['optimum']:.4f}" + (
                " (bound)" if r["optimum_is_bound"] else "")
            gap = "" if r["gap_pct"] is None else f"{r['gap_pct']:+.2f}"
            lines.append(
                f"| {r['policy']} | {r['estimator']} | {r['n_stores']} | {r['lead_time']} | "
                f"{r['underage_cost']:g} | {r.get('correlation', '')} | "
                f"{r['n_train_scenarios']} | {r['test_cost']:.4f} | {opt} | {gap} | "
                f"{_steps(r)} | {r['seconds']:.1f} |" + (f" {_seed(r)} |" if seeds else ""))
        lines.append("")
    return "\n".join(lines)


def write(out: pathlib.Path, name: str, meta: dict, records) -> None:
    """NAME.json and NAME.md with the cells so far (after every group, so a long run
    that is stopped keeps what it finished)."""
    (out / f"{name}.json").write_text(json.dumps({"meta": meta, "cells": records}, indent=1))
    note = f"{meta['note']}\n\n" if meta.get("note") else ""
    header = (f"# Paper tables{' (quick)' if meta['quick'] else ''}\n\n{note}"
              f"Device: {meta['device']}; jax {meta['jax']}; "
              f"epochs override: {meta['epochs_override']}; step budget: {meta['steps']}; "
              f"overrides: {meta['overrides'] or 'none'}; "
              f"grid restricted to: {meta['grid'] or 'none'}; "
              f"seeds: {sorted({_seed(r) for r in records})}; keys: {keys(meta)}. "
              "Seconds are per cell (a program's time divided by the cells it trains).\n\n")
    (out / f"{name}.md").write_text(header + markdown(records))

