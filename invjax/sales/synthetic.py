"""The shipped sales history: a documented generative model of weekly retail sales.

Per series (a store x item pair), weekly demand is negative binomial (gamma-Poisson,
so counts are integers and over-dispersed) with mean

    level x trend x season x holiday x promotion

- level: log-uniform over three orders of magnitude (0.2 to 200 units a week) times a
  store size factor, so series have very different volumes;
- trend: exp(b t / 52) with b ~ N(0, 0.15) per series;
- season: 1 + a sin(2 pi (week - phase) / 52), a ~ U(0, 0.4), phase per item;
- holidays (`calendar.default_holidays`): x U(1.2, 2.0) in the week of Thanksgiving or
  Christmas, x U(1.1, 1.4) the week before, x 0.75 the week after Christmas;
- promotions: each week with probability 0.06 independently, x U(1.3, 2.2), then a
  post-promotion dip x 0.85 the next week;
- slow movers: a quarter of the series are intermittent, selling only in a week with
  probability U(0.15, 0.5);
- dispersion: gamma noise with shape 1 / U(0.05, 0.3).

As in real point-of-sale exports, weeks without a sale have no row (the loader reads
them as zero sales) and 0.3% of the rows carry returns (negative sales, read as zero).

Regenerate the shipped file with `python -m invjax.sales.synthetic`.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 7; SPEC §10.
"""

from __future__ import annotations

import csv
import importlib.resources
import pathlib

import numpy as np

from invjax.sales.calendar import default_holidays, weeks_to_holiday

START = "2022-01-03"  # a Monday
SHIPPED = "weekly_sales.csv"


def shipped_path() -> pathlib.Path:
    """Path of the sales history shipped with invjax (package data)."""
    return pathlib.Path(str(importlib.resources.files("invjax.sales") / "data" / SHIPPED))


def _holiday_factor(rng, dates, n) -> np.ndarray:
    """[T, n] multipliers of the holiday weeks (Thanksgiving, Christmas)."""
    years = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    holidays = default_holidays(int(years.min()), int(years.max()))
    month = holidays.astype("datetime64[M]").astype(np.int64) % 12
    weeks = weeks_to_holiday(dates, holidays[month >= 10])
    christmas = weeks_to_holiday(dates, holidays[month == 11]) == 0
    factor = np.ones((len(dates), n))
    factor[weeks == 0] *= rng.uniform(1.2, 2.0, n)
    factor[weeks == 1] *= rng.uniform(1.1, 1.4, n)
    factor[1:][christmas[:-1]] *= 0.75
    return factor


def generate(n_stores: int = 20, n_items: int = 6, weeks: int = 172, seed: int = 0):
    """(dates [T], names [S], store [S], item [S], sales [T, S] int) from the model."""
    rng = np.random.default_rng(seed)
    n = n_stores * n_items
    dates = np.datetime64(START) + 7 * np.arange(weeks)
    store = np.repeat(np.arange(n_stores), n_items)
    item = np.tile(np.arange(n_items), n_stores)
    t = np.arange(weeks)[:, None]
    size = rng.uniform(0.6, 1.6, n_stores)[store]
    level = np.exp(rng.uniform(np.log(0.2), np.log(200.0), n)) * size
    trend = np.exp(rng.normal(0.0, 0.15, n) * t / 52)
    phase = rng.uniform(0, 52, n_items)[item]
    season = 1 + rng.uniform(0, 0.4, n) * np.sin(2 * np.pi * (t - phase) / 52)
    promo = rng.random((weeks, n)) < 0.06
    uplift = np.where(promo, rng.uniform(1.3, 2.2, (weeks, n)), 1.0)
    uplift[1:] *= np.where(promo[:-1] & ~promo[1:], 0.85, 1.0)
    mean = level * trend * season * _holiday_factor(rng, dates, n) * uplift
    intermittent = rng.random(n) < 0.25
    occurs = rng.random((weeks, n)) < rng.uniform(0.15, 0.5, n)
    mean = np.where(intermittent & ~occurs, 0.0, np.where(intermittent, mean / 0.3, mean))
    shape = 1.0 / rng.uniform(0.05, 0.3, n)
    sales = rng.poisson(rng.gamma(shape, mean / shape)).astype(np.int64)
    returns = (rng.random((weeks, n)) < 0.003) & (sales == 0)
    sales[returns] = -rng.integers(1, 3, returns.sum())
    names = [f"s{s:02d}_i{i:02d}" for s, i in zip(store, item)]
    return dates, names, store, item, sales


def write(path, n_stores: int = 20, n_items: int = 6, weeks: int = 172, seed: int = 0):
    """Writes the history in the long layout. Weeks without a sale have no row, except
    the first week: every series is listed from the start."""
    dates, names, store, item, sales = generate(n_stores, n_items, weeks, seed)
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["date", "series", "store", "item", "sales"])
        for t, date in enumerate(dates):
            for j, name in enumerate(names):
                if sales[t, j] != 0 or t == 0:
                    out.writerow([str(date), name, f"s{store[j]:02d}", f"i{item[j]:02d}",
                                  int(sales[t, j])])


if __name__ == "__main__":
    write(shipped_path())
    print(f"wrote {shipped_path()}")
