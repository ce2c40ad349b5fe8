#!/usr/bin/env python3
"""Differential testing of cpiq against DuckDB and scipy (issue 23).

A seeded generator draws slice requests — any CPI of a data set, 0–3 of its
declared dimensions, every grain (fiscal quarters and years too), a `--where`
from a small grammar over the dimensions, `--from`/`--to` on and off period
boundaries, `--compare previous|year`, `--fill`, non-default parameters — and
runs each through the real cpiq binary (`cpiq slice … --output X.parquet`).
DuckDB computes the same cells from the base tables, with SQL written here for
DuckDB (the events of each CPI, then periods, sums, value, status, Wilson
interval, comparisons and filling), never through cpiq's views. Every cell is
compared: value, numerator, denominator, events, target, status, ci_low,
ci_high, previous_value, change, change_pct, and the rows' order.

Correlation requests (CPI × KPI × lags × method × dimension) are checked the
same way: DuckDB builds both series, scipy computes r or ρ, p, the Fisher
interval and Benjamini–Hochberg q.

Data sets: the bundled sample (as shipped, and a copy with a random fiscal
year start whose slices are answered from day rollups), the real Olist orders
and reviews and the Comcast complaints of ../shared/realdata, converted to
Parquet by DuckDB in a scratch folder.

    python3 tests/reference/differential.py --cpiq target/release/cpiq \
        --requests 500 --seed 1

Prints one line per difference (the cpiq command and the DuckDB SQL that
disagree) and a summary; exits 1 on any difference.
"""

import argparse
import math
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

import duckdb
from scipy import stats

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REALDATA = os.path.join(ROOT, "..", "shared", "realdata")
Z95 = 1.959963984540054
GRAINS = ["day", "week", "month", "quarter", "year", "all"]
STEP = {"day": "INTERVAL 1 DAY", "week": "INTERVAL 7 DAY", "month": "INTERVAL 1 MONTH",
        "quarter": "INTERVAL 3 MONTH", "year": "INTERVAL 12 MONTH"}


@dataclass
class Cpi:
    """One CPI as this test knows it: the DuckDB SQL of its events (columns
    t, the dimensions, numerator, denominator; `{name}` for parameters) and
    its header values."""
    name: str
    events: str
    dims: list
    target: float = None
    higher: bool = True
    min_den: float = None
    params: dict = field(default_factory=dict)  # name -> (default, choices)
    header: str = ""  # cpiq's definition file, for data sets this test writes
    entity: str = None


@dataclass
class Kpi:
    name: str          # kpi_table.column
    sql: str           # DuckDB: columns t, dims..., v (one row per record)
    agg: str           # avg | sum | min | max | median
    dims: list
    entity: str = None  # the customer column, for --per-entity


@dataclass
class Dataset:
    name: str
    workspace: str
    cpis: list
    fiscal_start: int = 1
    kpis: list = field(default_factory=list)
    rollups: bool = False


# --------------------------------------------------------------------------
# The data sets


def parquet(path):
    return f"read_parquet('{path}')"


def sample_cpis(root):
    cpis = shipped_cpis(root)
    for c in cpis:
        c.entity = "customer_id"
    return cpis


def shipped_cpis(root):
    t = lambda name: parquet(os.path.join(root, "data-samples", name, "*.parquet"))
    dims3 = ["channel", "segment", "region"]
    dims4 = dims3 + ["category"]
    orders = lambda num: (
        f"SELECT promised_at AS t, customer_id, channel, segment, region, {num} AS numerator, 1 AS denominator "
        f"FROM {t('orders')} WHERE status = 'delivered'")
    epoch = lambda a, b: f"(epoch({a}) - epoch({b}))"
    return [
        Cpi("on_time_delivery", orders("CASE WHEN delivered_at <= promised_at THEN 1 ELSE 0 END"),
            dims3, 0.95, True, 30),
        Cpi("complete_delivery", orders("CASE WHEN items_delivered >= items_ordered THEN 1 ELSE 0 END"),
            dims3, 0.97, True, 30),
        Cpi("damage_free_delivery", orders("CASE WHEN damaged THEN 0 ELSE 1 END"),
            dims3, 0.98, True, 30),
        Cpi("first_contact_resolution",
            "SELECT opened_at AS t, customer_id, channel, segment, region, category, "
            "CASE WHEN contacts = 1 THEN 1 ELSE 0 END AS numerator, 1 AS denominator "
            f"FROM {t('support_cases')} WHERE resolved_at IS NOT NULL", dims4, 0.70, True, 30),
        Cpi("resolved_within_sla",
            "SELECT opened_at AS t, customer_id, channel, segment, region, category, "
            f"CASE WHEN resolved_at IS NOT NULL AND {epoch('resolved_at', 'opened_at')} <= {{sla_hours}} * 3600 "
            f"THEN 1 ELSE 0 END AS numerator, 1 AS denominator FROM {t('support_cases')}",
            dims4, 0.85, True, 30, {"sla_hours": (24, [4, 8, 12, 48, 72])}),
        Cpi("time_to_first_response",
            "SELECT opened_at AS t, customer_id, channel, segment, region, category, "
            f"{epoch('first_response_at', 'opened_at')} / 3600.0 AS numerator, 1 AS denominator "
            f"FROM {t('support_cases')} WHERE first_response_at IS NOT NULL", dims4, 2.0, False, 30),
        Cpi("quote_answered_within",
            "SELECT requested_at AS t, customer_id, channel, segment, region, "
            f"CASE WHEN answered_at IS NOT NULL AND {epoch('answered_at', 'requested_at')} <= {{hours}} * 3600 "
            f"THEN 1 ELSE 0 END AS numerator, 1 AS denominator FROM {t('quote_requests')}",
            dims3, 0.85, True, 30, {"hours": (4, [1, 2, 8, 24])}),
        Cpi("return_completed_within",
            "SELECT requested_at AS t, customer_id, channel, segment, region, reason, "
            f"CASE WHEN completed_at IS NOT NULL AND {epoch('completed_at', 'requested_at')} <= {{days}} * 86400 "
            f"THEN 1 ELSE 0 END AS numerator, 1 AS denominator FROM {t('returns')}",
            dims3 + ["reason"], 0.85, True, 30, {"days": (7, [3, 5, 14])}),
    ]


def sample_kpis(root):
    monthly = parquet(os.path.join(root, "data-samples", "kpi_monthly.parquet"))
    survey = parquet(os.path.join(root, "data-samples", "survey_responses", "*.parquet"))
    out = []
    for col, agg in [("nps", "avg"), ("churn_rate", "avg"), ("revenue", "sum"), ("clv", "avg")]:
        out.append(Kpi(f"kpi_monthly.{col}", f"SELECT month AS t, segment, {col} AS v FROM {monthly}",
                       agg, ["segment"]))
    for col in ["nps_score", "ces_score"]:
        out.append(Kpi(f"survey_responses.{col}",
                       f"SELECT responded_at AS t, customer_id, segment, region, {col} AS v FROM {survey}",
                       "avg", ["segment", "region"], "customer_id"))
    return out


def write_workspace(folder, tables, cpis, settings=""):
    """A cpiq workspace of Parquet tables and CPI definition files."""
    os.makedirs(os.path.join(folder, "cpis"), exist_ok=True)
    toml = ['[workspace]', 'cpis = "cpis"', '']
    for name, path in tables.items():
        toml += [f"[tables.{name}]", f'path = "{path}"', ""]
    toml.append(settings)
    with open(os.path.join(folder, "cpiq.toml"), "w") as f:
        f.write("\n".join(toml))
    for c in cpis:
        with open(os.path.join(folder, "cpis", c.name + ".sql"), "w") as f:
            f.write(c.header)


def olist(scratch):
    """Olist orders and reviews, converted to Parquet by DuckDB."""
    src = os.path.join(REALDATA, "olist-sample")
    orders = os.path.join(scratch, "olist_orders.parquet")
    reviews = os.path.join(scratch, "olist_reviews.parquet")
    duckdb.sql(f"COPY (SELECT * FROM read_csv('{src}/olist_orders_dataset.csv', header = true)) "
               f"TO '{orders}' (FORMAT parquet)")
    duckdb.sql(f"COPY (SELECT * FROM read_csv('{src}/olist_order_reviews_dataset.csv', header = true)) "
               f"TO '{reviews}' (FORMAT parquet)")
    # Derived dimensions: a NULL where the order was never approved.
    duck_dims = ("CASE WHEN hour(order_purchase_timestamp) < 12 THEN 'am' ELSE 'pm' END AS half_day, "
                 "CASE WHEN order_approved_at IS NULL THEN NULL "
                 "WHEN CAST(order_approved_at AS DATE) = CAST(order_purchase_timestamp AS DATE) "
                 "THEN 'same_day' ELSE 'later' END AS approval")
    df_dims = ("CASE WHEN date_part('hour', order_purchase_timestamp) < 12 THEN 'am' ELSE 'pm' END AS half_day, "
               "CASE WHEN order_approved_at IS NULL THEN NULL "
               "WHEN CAST(order_approved_at AS DATE) = CAST(order_purchase_timestamp AS DATE) "
               "THEN 'same_day' ELSE 'later' END AS approval")
    head = lambda name, unit, direction, target, min_den, time, dims, params="": (
        f"-- cpi: {name}\n-- label: {name}\n-- unit: {unit}\n-- direction: {direction}\n"
        + (f"-- target: {target}\n" if target is not None else "")
        + (f"-- min_denominator: {min_den}\n" if min_den is not None else "")
        + f"-- time: {time}\n-- dimensions: {', '.join(dims)}\n" + params)
    on_time_num = ("CASE WHEN CAST(order_delivered_customer_date AS DATE) <= "
                   "CAST(order_estimated_delivery_date AS DATE) THEN 1 ELSE 0 END")
    delivered = "order_status = 'delivered' AND order_delivered_customer_date IS NOT NULL"
    o = parquet(orders)
    cpis = [
        Cpi("olist_on_time",
            f"SELECT order_estimated_delivery_date AS t, {duck_dims}, {on_time_num} AS numerator, "
            f"1 AS denominator FROM {o} WHERE {delivered}",
            ["half_day", "approval"], 0.9, True, 10,
            header=head("olist_on_time", "percent", "higher_is_better", 0.9, 10,
                        "order_estimated_delivery_date", ["half_day", "approval"])
            + f"SELECT order_estimated_delivery_date, {df_dims}, {on_time_num} AS numerator, "
              f"1 AS denominator FROM olist_orders WHERE {delivered}\n"),
        Cpi("olist_delivery_hours",
            f"SELECT order_purchase_timestamp AS t, {duck_dims}, "
            "(epoch(order_delivered_customer_date) - epoch(order_purchase_timestamp)) / 3600.0 AS numerator, "
            f"1 AS denominator FROM {o} WHERE {delivered}",
            ["half_day", "approval"], 240.0, False, 5,
            header=head("olist_delivery_hours", "hours", "lower_is_better", 240.0, 5,
                        "order_purchase_timestamp", ["half_day", "approval"])
            + f"SELECT order_purchase_timestamp, {df_dims}, "
              "(date_part('epoch', order_delivered_customer_date) - date_part('epoch', order_purchase_timestamp)) "
              f"/ 3600.0 AS numerator, 1 AS denominator FROM olist_orders WHERE {delivered}\n"),
        Cpi("olist_cancellation",
            f"SELECT order_purchase_timestamp AS t, order_status, {duck_dims}, "
            "CASE WHEN order_status = 'canceled' THEN 1 ELSE 0 END AS numerator, 1 AS denominator FROM " + o,
            ["order_status", "half_day", "approval"], 0.02, False, None,
            header=head("olist_cancellation", "percent", "lower_is_better", 0.02, None,
                        "order_purchase_timestamp", ["order_status", "half_day", "approval"])
            + f"SELECT order_purchase_timestamp, order_status, {df_dims}, "
              "CASE WHEN order_status = 'canceled' THEN 1 ELSE 0 END AS numerator, 1 AS denominator "
              "FROM olist_orders\n"),
        Cpi("olist_satisfied",
            "SELECT review_creation_date AS t, CAST(review_score AS VARCHAR) AS score, "
            "CASE WHEN review_comment_title IS NULL THEN 'no' ELSE 'yes' END AS has_title, "
            "CASE WHEN review_score >= {min_score} THEN 1 ELSE 0 END AS numerator, 1 AS denominator "
            f"FROM {parquet(reviews)}",
            ["score", "has_title"], 0.8, True, 10, {"min_score": (4, [3, 5])},
            header=head("olist_satisfied", "percent", "higher_is_better", 0.8, 10, "review_creation_date",
                        ["score", "has_title"], "-- param: min_score = 4\n")
            + "SELECT review_creation_date, CAST(review_score AS VARCHAR) AS score, "
              "CASE WHEN review_comment_title IS NULL THEN 'no' ELSE 'yes' END AS has_title, "
              "CASE WHEN review_score >= ${min_score} THEN 1 ELSE 0 END AS numerator, 1 AS denominator "
              "FROM olist_reviews\n"),
    ]
    folder = os.path.join(scratch, "olist")
    write_workspace(folder, {"olist_orders": orders, "olist_reviews": reviews}, cpis)
    return Dataset("olist", folder, cpis)


def comcast(scratch, plant_fault=False):
    """The Comcast complaints (dd-mm-yyyy dates as DATE), converted by DuckDB.
    With `plant_fault`, cpiq's definition of comcast_resolved counts only
    'Closed' tickets while this test's counts 'Closed' and 'Solved': every
    slice of it must then differ (the harness can fail)."""
    src = os.path.join(REALDATA, "comcast-complaints", "Comcast_telecom_complaints_data.csv")
    out = os.path.join(scratch, "comcast.parquet")
    duckdb.sql(
        f"COPY (SELECT \"Ticket #\" AS ticket, CAST(strptime(\"Date\", '%d-%m-%Y') AS DATE) AS filed_on, "
        "\"Received Via\" AS received_via, \"State\" AS state, \"Status\" AS status, "
        "\"Filing on Behalf of Someone\" AS on_behalf "
        f"FROM read_csv('{src}', header = true, all_varchar = true)) TO '{out}' (FORMAT parquet)")
    c = parquet(out)
    dims = ["received_via", "state", "on_behalf"]
    head = lambda name, direction, target, min_den: (
        f"-- cpi: {name}\n-- label: {name}\n-- unit: percent\n-- direction: {direction}\n"
        + (f"-- target: {target}\n" if target is not None else "")
        + (f"-- min_denominator: {min_den}\n" if min_den is not None else "")
        + f"-- time: filed_on\n-- dimensions: {', '.join(dims)}\n")
    resolved = "CASE WHEN status IN ('Closed', 'Solved') THEN 1 ELSE 0 END"
    closed_only = "CASE WHEN status IN ('Closed') THEN 1 ELSE 0 END"
    behalf = "CASE WHEN on_behalf = 'Yes' THEN 1 ELSE 0 END"
    cpis = [
        Cpi("comcast_resolved", f"SELECT filed_on AS t, {', '.join(dims)}, {resolved} AS numerator, "
            f"1 AS denominator FROM {c}", dims, 0.75, True, 20,
            header=head("comcast_resolved", "higher_is_better", 0.75, 20)
            + f"SELECT filed_on, {', '.join(dims)}, "
              f"{closed_only if plant_fault else resolved} AS numerator, "
              "1 AS denominator FROM complaints\n"),
        Cpi("comcast_on_behalf", f"SELECT filed_on AS t, {', '.join(dims)}, {behalf} AS numerator, "
            f"1 AS denominator FROM {c}", dims, None, False, None,
            header=head("comcast_on_behalf", "lower_is_better", None, None)
            + f"SELECT filed_on, {', '.join(dims)}, {behalf} AS numerator, 1 AS denominator FROM complaints\n"),
    ]
    folder = os.path.join(scratch, "comcast")
    write_workspace(folder, {"complaints": out}, cpis)
    return Dataset("comcast", folder, cpis)


def fiscal_sample(scratch, rng):
    """The bundled sample under a random fiscal year start, answered from day
    rollups built into a scratch cache."""
    fs = rng.choice([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    folder = os.path.join(scratch, "sample_fiscal")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(ROOT, "cpiq.toml")) as f:
        toml = f.read()
    toml = toml.replace('cpis = "queries/cpis"',
                        f'cpis = "{ROOT}/queries/cpis"\ncache = "{folder}/cache"')
    toml = toml.replace('path = "data-samples/', f'path = "{ROOT}/data-samples/')
    toml = toml.replace("[settings]", f"[settings]\nfiscal_year_start = {fs}")
    # The other aggregations a KPI may declare.
    toml = toml.replace("[settings]", f"""[kpis.kpi_spread]
path = "{ROOT}/data-samples/kpi_monthly.parquet"
time = "month"
dimensions = ["segment"]
measures = {{ nps = "min", ces = "max", churn_rate = "median" }}

[settings]""")
    with open(os.path.join(folder, "cpiq.toml"), "w") as f:
        f.write(toml)
    monthly = parquet(os.path.join(ROOT, "data-samples", "kpi_monthly.parquet"))
    spread = [Kpi(f"kpi_spread.{col}", f"SELECT month AS t, segment, {col} AS v FROM {monthly}", agg, ["segment"])
              for col, agg in [("nps", "min"), ("ces", "max"), ("churn_rate", "median")]]
    return Dataset(f"sample (fiscal year from month {fs}, rollups)", folder, sample_cpis(ROOT), fs,
                   sample_kpis(ROOT) + spread, rollups=True)


# --------------------------------------------------------------------------
# Requests


@dataclass
class Slice:
    cpi: Cpi
    by: list
    per: str
    where: str = None
    start: str = None
    end: str = None
    compare: str = None
    fill: bool = False
    params: dict = field(default_factory=dict)

    def args(self):
        a = ["slice", self.cpi.name, "--per", self.per]
        if self.by:
            a += ["--by", ",".join(self.by)]
        if self.where:
            a += ["--where", self.where]
        if self.start:
            a += ["--from", self.start]
        if self.end:
            a += ["--to", self.end]
        if self.compare:
            a += ["--compare", self.compare]
        if self.fill:
            a.append("--fill")
        for k, v in self.params.items():
            a += ["-p", f"{k}={v}"]
        return a


def quote(v):
    return "'" + v.replace("'", "''") + "'"


def predicate(rng, dims, values, depth=0):
    """A random predicate over `dims` from =, <>, IN, AND, OR, NOT, IS NULL."""
    r = rng.random()
    if depth < 2 and r < 0.3:
        op = rng.choice(["AND", "OR"])
        return f"({predicate(rng, dims, values, depth + 1)} {op} {predicate(rng, dims, values, depth + 1)})"
    if depth < 2 and r < 0.4:
        return f"NOT ({predicate(rng, dims, values, depth + 1)})"
    d = rng.choice(dims)
    vals = values[d] or ["?"]
    kind = rng.choice(["=", "<>", "IN", "IN", "IS NULL", "IS NOT NULL"])
    if kind in ("IS NULL", "IS NOT NULL"):
        return f"{d} {kind}"
    if kind == "IN":
        pick = rng.sample(vals, min(len(vals), rng.randint(1, 3)))
        return f"{d} IN ({', '.join(quote(v) for v in pick)})"
    return f"{d} {kind} {quote(rng.choice(vals))}"


def random_day(rng, lo, hi, grain, fs):
    """A day in [lo, hi], on a period boundary of `grain` half of the time."""
    import datetime as dt
    span = (hi - lo).days
    d = lo + dt.timedelta(days=rng.randint(0, max(span, 0)))
    if rng.random() < 0.5:
        if grain == "week":
            d -= dt.timedelta(days=d.weekday())
        elif grain in ("month", "quarter", "year"):
            d = d.replace(day=1)
            if grain != "month":
                months = 3 if grain == "quarter" else 12
                back = (d.month - fs) % months
                y, m = d.year, d.month - back
                while m < 1:
                    m += 12
                    y -= 1
                d = d.replace(year=y, month=m)
    return d


def draw_slice(rng, ds, info):
    cpi = rng.choice(ds.cpis)
    by = rng.sample(cpi.dims, rng.randint(0, min(3, len(cpi.dims))))
    per = rng.choice(GRAINS)
    if per == "day" and rng.random() < 0.6:
        per = "month"  # day slices are many rows; keep them a minority
    s = Slice(cpi, by, per)
    lo, hi = info[cpi.name]["range"]
    if rng.random() < 0.4:
        s.where = predicate(rng, cpi.dims, info[cpi.name]["values"])
    if rng.random() < 0.5:
        s.start = str(random_day(rng, lo, hi, per, ds.fiscal_start))
    if rng.random() < 0.5:
        e = random_day(rng, lo, hi, per, ds.fiscal_start)
        if s.start is None or str(e) > s.start:
            s.end = str(e)
    if per != "all" and rng.random() < 0.4:
        s.compare = rng.choice(["previous", "year"])
    if per != "all" and rng.random() < 0.3:
        s.fill = True
    for k, (default, choices) in cpi.params.items():
        if rng.random() < 0.5:
            s.params[k] = rng.choice(choices)
    return s


# --------------------------------------------------------------------------
# DuckDB's answer


def period_sql(grain, t, fs):
    if grain == "day":
        return f"CAST(date_trunc('day', {t}) AS DATE)"
    if grain == "week":
        return f"CAST(date_trunc('week', {t}) AS DATE)"
    if grain == "month":
        return f"CAST(date_trunc('month', {t}) AS DATE)"
    if grain == "quarter":
        return (f"CAST(date_trunc('month', {t}) - to_months((month({t}) - {fs} + 12) % 3) AS DATE)")
    return f"make_date(CAST(year({t}) AS INTEGER) - CASE WHEN month({t}) < {fs} THEN 1 ELSE 0 END, {fs}, 1)"


def truncate(grain, day, fs):
    return duckdb.execute(f"SELECT {period_sql(grain, f'TIMESTAMP {quote(day)}', fs)}").fetchone()[0]


def earlier_sql(compare, grain, p):
    """The period a comparison reads: the previous one, or a year earlier
    (the same ISO week for weeks; NULL when that year has no such week)."""
    if compare == "previous":
        return f"CAST({p} - {STEP[grain]} AS DATE)"
    if grain == "week":
        monday = (f"CAST(date_trunc('week', make_date(CAST(isoyear({p}) AS INTEGER) - 1, 1, 4)) "
                  f"+ to_days(7 * (CAST(weekofyear({p}) AS INTEGER) - 1)) AS DATE)")
        return f"CASE WHEN isoyear({monday}) = isoyear({p}) - 1 THEN {monday} END"
    return f"CAST({p} - INTERVAL 12 MONTH AS DATE)"


def reference_sql(s, fs):
    """The slice `s` as DuckDB SQL over the base tables."""
    c = s.cpi
    params = {k: d for k, (d, _) in c.params.items()}
    params.update(s.params)
    events = c.events.format(**params)
    grain = s.per
    first = truncate(grain, s.start, fs) if s.start and grain != "all" else None
    conds = []
    if s.where:
        conds.append(f"({s.where})")
    if s.end:
        conds.append(f"t < TIMESTAMP {quote(s.end)}")
    if s.start:
        # Cells before the first reported period are read only to compare with.
        conds.append(f"(t >= TIMESTAMP {quote(s.start)}"
                     + (f" OR t < TIMESTAMP {quote(str(first))})" if first and s.compare else ")"))
    where = f"WHERE {' AND '.join(conds)}" if conds else ""
    dims = [f"CAST({d} AS VARCHAR) AS {d}" for d in s.by]
    keys = ([] if grain == "all" else ["period"]) + list(s.by)
    period = [] if grain == "all" else [f"{period_sql(grain, 'CAST(t AS TIMESTAMP)', fs)} AS period"]
    group = f"GROUP BY {', '.join(keys)}" if keys else ""
    min_den = "NULL" if c.min_den is None else repr(float(c.min_den))
    target = "NULL" if c.target is None else repr(float(c.target))
    meets = "value >= target" if c.higher else "value <= target"
    sql = [f"WITH ev AS ({events}),",
           f"cells AS (SELECT {', '.join(period + dims + [''])}"
           "coalesce(CAST(SUM(numerator) AS DOUBLE), 0) AS numerator, "
           "coalesce(CAST(SUM(denominator) AS DOUBLE), 0) AS denominator, "
           "COUNT(*) AS events, "
           "BOOL_AND((numerator = 0 OR numerator = 1) AND denominator = 1) AS is_binary "
           f"FROM ev {where} {group}),",
           f"valued AS (SELECT *, CASE WHEN denominator = 0 OR denominator < {min_den} THEN NULL "
           "ELSE numerator / denominator END AS value FROM cells),"]
    reported = "valued" + (f" WHERE period >= DATE {quote(str(first))}" if first else "")
    sql.append(f"reported AS (SELECT * FROM {reported}),")
    if s.fill and grain != "all":
        start = f"DATE {quote(str(first))}" if first else "(SELECT min(period) FROM reported)"
        end = (f"DATE {quote(s.end)}" if s.end
               else f"(SELECT CAST(max(period) + {STEP[grain]} AS DATE) FROM reported)")
        combos = (f"(SELECT DISTINCT {', '.join(s.by)} FROM reported)" if s.by
                  else "(SELECT 1 AS no_dims)")
        sql.append(f"periods AS (SELECT CAST(unnest(range(CAST({start} AS TIMESTAMP), "
                   f"CAST({end} AS TIMESTAMP), {STEP[grain]})) AS DATE) AS period),")
        sql.append(f"keys AS (SELECT periods.period{''.join(', combos.' + d for d in s.by)} "
                   f"FROM periods CROSS JOIN {combos} AS combos),")
        on = " AND ".join(f"keys.{k} IS NOT DISTINCT FROM r.{k}" for k in keys)
        sql.append("rows AS (SELECT " + ", ".join(f"keys.{k}" for k in keys)
                   + ", coalesce(r.numerator, 0) AS numerator, coalesce(r.denominator, 0) AS denominator, "
                   "coalesce(r.events, 0) AS events, coalesce(r.is_binary, true) AS is_binary, r.value "
                   f"FROM keys LEFT JOIN reported r ON {on}),")
    else:
        sql.append("rows AS (SELECT * FROM reported),")
    if s.compare:
        on = " AND ".join([f"e.period = {earlier_sql(s.compare, grain, 'rows.period')}"]
                          + [f"e.{d} IS NOT DISTINCT FROM rows.{d}" for d in s.by])
        sql.append(f"compared AS (SELECT rows.*, e.value AS previous_value FROM rows LEFT JOIN valued e ON {on}),")
    else:
        sql.append("compared AS (SELECT * FROM rows),")
    wilson_p = "(numerator / denominator)"
    center = f"(({wilson_p} + {Z95}^2 / (2 * denominator)) / (1 + {Z95}^2 / denominator))"
    half = (f"({Z95} * sqrt({wilson_p} * (1 - {wilson_p}) / denominator + {Z95}^2 / (4 * denominator^2)) "
            f"/ (1 + {Z95}^2 / denominator))")
    cols = [f"{quote(c.name)} AS cpi"] + keys + [
        "value", "numerator", "denominator", "events", f"{target} AS target",
        f"CASE WHEN denominator < {min_den} THEN 'insufficient' WHEN value IS NULL OR {target} IS NULL THEN NULL "
        f"WHEN {meets.replace('target', target)} THEN 'met' ELSE 'missed' END AS status",
        f"CASE WHEN is_binary AND value IS NOT NULL THEN greatest({center} - {half}, 0) END AS ci_low",
        f"CASE WHEN is_binary AND value IS NOT NULL THEN least({center} + {half}, 1) END AS ci_high"]
    if s.compare:
        cols += ["previous_value", "value - previous_value AS change",
                 "CASE WHEN previous_value <> 0 THEN 100 * (value - previous_value) / abs(previous_value) END "
                 "AS change_pct"]
    order = f" ORDER BY {', '.join(k + ' NULLS FIRST' for k in keys)}" if keys else ""
    sql.append(f"final AS (SELECT {', '.join(cols)} FROM compared)")
    return "\n".join(sql) + f"\nSELECT * FROM final{order}"


# --------------------------------------------------------------------------
# Comparing


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def rows_of(con, sql):
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return names, [dict(zip(names, r)) for r in cur.fetchall()]


def run_cpiq(cpiq, workspace, args, out):
    cmd = [cpiq, "-w", workspace] + args + ["--output", out]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return cmd, p


def compare_slice(con, cpiq, ds, s, scratch, n):
    out = os.path.join(scratch, f"slice{n}.parquet")
    cmd, p = run_cpiq(cpiq, ds.workspace, s.args(), out)
    shown = " ".join(shlex.quote(a) for a in cmd)
    if p.returncode not in (0, 3):
        return [f"cpiq failed ({p.returncode}): {shown}\n{p.stderr.strip()}"], 0
    sql = reference_sql(s, ds.fiscal_start)
    try:
        want_cols, want = rows_of(con, sql)
    except duckdb.Error as e:
        return [f"DuckDB failed: {e}\n{sql}"], 0
    got_cols, got = rows_of(con, f"SELECT * FROM read_parquet('{out}')")
    problems = []
    if got_cols != want_cols:
        problems.append(f"columns {got_cols} != {want_cols}")
    if len(got) != len(want):
        problems.append(f"{len(got)} rows, DuckDB {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        for k in want_cols:
            if not close(g.get(k), w.get(k)):
                key = {c: w.get(c) for c in ["period"] + s.by if c in w}
                problems.append(f"row {i} {key}: {k} = {g.get(k)!r}, DuckDB {w.get(k)!r}")
                break
        if len(problems) > 3:
            break
    if problems:
        return [f"slice differs: {shown}\n  " + "\n  ".join(problems) + f"\n-- DuckDB:\n{sql}"], len(want)
    return [], len(want)


# Correlations ---------------------------------------------------------------


def series_sql(events, grain, fs, dim, entity, agg, start, end):
    """Per period (and dimension value, entity): `agg` over the rows with
    start <= t < end."""
    conds = []
    if start:
        conds.append(f"t >= TIMESTAMP {quote(str(start))}")
    if end:
        conds.append(f"t < TIMESTAMP {quote(str(end))}")
    where = f"WHERE {' AND '.join(conds)}" if conds else ""
    d = f"CAST({dim} AS VARCHAR)" if dim else "NULL"
    e = f"CAST({entity} AS VARCHAR)" if entity else "NULL"
    return (f"SELECT {period_sql(grain, 'CAST(t AS TIMESTAMP)', fs)} AS period, {d} AS dim, {e} AS entity, "
            f"{agg} AS v FROM ({events}) {where} GROUP BY ALL")


def draw_correlation(rng, ds, info):
    cpi = rng.choice(ds.cpis)
    kpi = rng.choice(ds.kpis)
    shared = [d for d in kpi.dims if d in cpi.dims]
    by = rng.choice(shared) if shared and rng.random() < 0.5 else None
    per = rng.choice(["month", "month", "quarter", "week"])
    lags = sorted(rng.sample(range(0, 4), rng.randint(1, 3)))
    method = rng.choice(["pearson", "spearman", "both"])
    r = dict(cpi=cpi, kpi=kpi, by=by, per=per, lags=lags, method=method, difference=rng.random() < 0.25,
             per_entity=bool(cpi.entity and kpi.entity) and rng.random() < 0.3, start=None, end=None)
    if rng.random() < 0.3:
        import datetime as dt
        lo, hi = info[cpi.name]["range"]
        r["start"] = random_day(rng, lo, hi, per, ds.fiscal_start)
        if rng.random() < 0.7:
            r["end"] = r["start"] + dt.timedelta(days=rng.randint(120, 500))
    return r


def bh(ps):
    """Benjamini–Hochberg q-values, in the order given (None stays None)."""
    idx = [i for i, p in enumerate(ps) if p is not None]
    m = len(idx)
    order = sorted(idx, key=lambda i: ps[i])
    q = [None] * len(ps)
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, ps[i] * m / rank)
        q[i] = running
    return q


def compare_correlation(con, cpiq, ds, r, scratch, n):
    out = os.path.join(scratch, f"corr{n}.parquet")
    args = ["correlate", r["cpi"].name, "--with", r["kpi"].name, "--per", r["per"],
            "--lags", ",".join(map(str, r["lags"])), "--method", r["method"]]
    if r["by"]:
        args += ["--by", r["by"]]
    if r["difference"]:
        args.append("--difference")
    if r["per_entity"]:
        args.append("--per-entity")
    if r["start"]:
        args += ["--from", str(r["start"])]
    if r["end"]:
        args += ["--to", str(r["end"])]
    cmd, p = run_cpiq(cpiq, ds.workspace, args, out)
    shown = " ".join(shlex.quote(a) for a in cmd)
    if p.returncode != 0:
        return [f"cpiq failed ({p.returncode}): {shown}\n{p.stderr.strip()}"]
    fs, c, k, per = ds.fiscal_start, r["cpi"], r["kpi"], r["per"]
    step = STEP[per]
    shifted = lambda day, n: con.execute(f"SELECT CAST(DATE {quote(str(day))} + {n} * {step} AS DATE)").fetchone()[0]
    params = {name: d for name, (d, _) in c.params.items()}
    # The CPI series spans [from, to); the KPI's runs on to the end of the
    # period holding `to`, plus the largest lag (the CPI leads).
    kpi_end = shifted(truncate(per, str(r["end"]), fs), max(r["lags"]) + 1) if r["end"] else None
    cpi_sql = series_sql(c.events.format(**params), per, fs, r["by"], c.entity if r["per_entity"] else None,
                         "SUM(numerator) / SUM(denominator)", r["start"], r["end"])
    kpi_sql = series_sql(k.sql, per, fs, r["by"], k.entity if r["per_entity"] else None,
                         f"{k.agg}(CAST(v AS DOUBLE))", r["start"], kpi_end)
    cpi = {(d, e, p): v for p, d, e, v in con.execute(cpi_sql).fetchall() if v is not None and math.isfinite(v)}
    kpi = {(d, e, p): v for p, d, e, v in con.execute(kpi_sql).fetchall() if v is not None and math.isfinite(v)}
    periods = sorted({p for *_, p in cpi} | {p for *_, p in kpi})
    shift = {p: {lag: shifted(p, lag) for lag in set(r["lags"]) | {-1}} for p in periods}
    if r["difference"]:
        # Each value's change from the previous period of its (dimension, entity).
        cpi = {(d, e, p): v - cpi[(d, e, shift[p][-1])] for (d, e, p), v in cpi.items()
               if (d, e, shift[p][-1]) in cpi}
        kpi = {(d, e, p): v - kpi[(d, e, shift[p][-1])] for (d, e, p), v in kpi.items()
               if (d, e, shift[p][-1]) in kpi}

    def coefficient(x, y, method):
        if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
            return None
        if method == "pearson":
            return float(stats.pearsonr(x, y).statistic)
        rx, ry = stats.rankdata(x), stats.rankdata(y)
        if len(set(rx)) < 2 or len(set(ry)) < 2:
            return None
        return float(stats.spearmanr(x, y).statistic)

    def p_of(c, n):
        # scipy's own test of the coefficient: Student's t with n − 2 df.
        if c is None or n < 3:
            return None
        if abs(c) >= 1:
            return 0.0
        t = c * math.sqrt((n - 2) / (1 - c * c))
        return float(2 * stats.t.sf(abs(t), n - 2))

    def fisher(c, n):
        if c is None or n <= 3:
            return (None, None)
        z = math.atanh(max(min(c, 0.999999999), -0.999999999))
        se = 1 / math.sqrt(n - 3)
        q = stats.norm.ppf(0.975)
        return (math.tanh(z - q * se), math.tanh(z + q * se))

    want = []
    for dim in sorted({d for d, _, _ in cpi}, key=lambda d: (d is not None, d)):
        for lag in r["lags"]:
            pairs = [(v, kpi[(dim, e, shift[p][lag])]) for (d, e, p), v in cpi.items()
                     if d == dim and (dim, e, shift[p][lag]) in kpi]
            x, y = [a for a, _ in pairs], [b for _, b in pairs]
            n = len(pairs)
            pr, rho = coefficient(x, y, "pearson"), coefficient(x, y, "spearman")
            primary = rho if r["method"] == "spearman" else pr
            lo, hi = fisher(primary, n)
            row = dict(dim=dim, lag=lag, n=n, pearson_r=pr, spearman_rho=rho, p_value=p_of(primary, n),
                       ci_low=lo, ci_high=hi)
            if r["method"] == "both":
                row["spearman_p_value"] = p_of(rho, n)
            want.append(row)
    for w, q in zip(want, bh([w["p_value"] for w in want])):
        w["q_value"] = q
    names, got = rows_of(con, f"SELECT * FROM read_parquet('{out}')")
    index = {(g[r["by"]] if r["by"] else None, g["lag"]): g for g in got}
    problems = []
    if len(got) != len(want):
        problems.append(f"{len(got)} rows, expected {len(want)}")
    for w in want:
        g = index.get((w["dim"], w["lag"]))
        if g is None:
            problems.append(f"missing row {w['dim']} lag {w['lag']}")
            continue
        for k, theirs in w.items():
            if k in ("dim", "lag"):
                continue
            if k not in g:
                problems.append(f"no column {k}")
                break
            if not close_stat(g[k], theirs):
                problems.append(f"{w['dim']} lag {w['lag']}: {k} = {g[k]!r}, scipy {theirs!r}")
                break
        if len(problems) > 3:
            break
    if problems:
        return [f"correlation differs: {shown}\n  " + "\n  ".join(problems)
                + f"\n-- DuckDB CPI series:\n{cpi_sql}\n-- DuckDB KPI series:\n{kpi_sql}"]
    return []


def close_stat(a, b):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-7, abs_tol=1e-10)


# --------------------------------------------------------------------------


def facts(con, ds):
    """Per CPI: the time range of its events and the values of each dimension."""
    info = {}
    import datetime as dt
    for c in ds.cpis:
        params = {k: d for k, (d, _) in c.params.items()}
        ev = c.events.format(**params)
        lo, hi = con.execute(f"SELECT CAST(min(t) AS DATE), CAST(max(t) AS DATE) FROM ({ev})").fetchone()
        values = {d: [v for (v,) in con.execute(f"SELECT DISTINCT CAST({d} AS VARCHAR) FROM ({ev}) "
                                              f"WHERE {d} IS NOT NULL ORDER BY 1 LIMIT 40").fetchall()]
                  for d in c.dims}
        info[c.name] = dict(range=(lo - dt.timedelta(days=20), hi + dt.timedelta(days=20)), values=values)
    return info


def coverage(s):
    """The features a slice request exercises, for the summary."""
    out = [f"per {s.per}", f"{len(s.by)} dims"]
    out += [name for name, on in [("where", s.where), ("from", s.start), ("to", s.end),
                                  (f"compare {s.compare}", s.compare), ("fill", s.fill),
                                  ("params", s.params)] if on]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cpiq", required=True, help="the cpiq binary")
    ap.add_argument("--requests", type=int, default=500, help="slice requests in all (default 500)")
    ap.add_argument("--correlations", type=int, default=None,
                    help="correlation requests (default: a tenth of --requests)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--datasets", default="sample,fiscal,olist,comcast",
                    help="comma-separated: sample, fiscal, olist, comcast")
    ap.add_argument("--plant-fault", action="store_true",
                    help="give cpiq a wrong comcast_resolved, to show that differences are found")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    scratch = tempfile.mkdtemp(prefix="cpiq-differential-")
    con = duckdb.connect()
    con.execute("SET threads = 2")
    try:
        wanted = set(a.datasets.split(","))
        build = {"sample": lambda: Dataset("sample", ROOT, sample_cpis(ROOT), 1, sample_kpis(ROOT)),
                 "fiscal": lambda: fiscal_sample(scratch, rng),
                 "olist": lambda: olist(scratch),
                 "comcast": lambda: comcast(scratch, a.plant_fault)}
        weight = {"sample": 0.35, "fiscal": 0.25, "olist": 0.25, "comcast": 0.15}
        names = [n for n in build if n in wanted]
        sets = [build[n]() for n in names]
        weights = [weight[n] for n in names]
        for ds in sets:
            if ds.rollups:
                p = subprocess.run([a.cpiq, "-w", ds.workspace, "rollup", "build"], capture_output=True,
                                   text=True, timeout=600)
                if p.returncode != 0:
                    print(f"rollup build failed on {ds.name}: {p.stderr}")
                    return 1
        infos = {ds.name: facts(con, ds) for ds in sets}
        differences, counts, cells, features = [], {ds.name: 0 for ds in sets}, 0, {}
        for n in range(a.requests):
            ds = rng.choices(sets, weights)[0]
            s = draw_slice(rng, ds, infos[ds.name])
            counts[ds.name] += 1
            for f in coverage(s):
                features[f] = features.get(f, 0) + 1
            found, compared = compare_slice(con, a.cpiq, ds, s, scratch, n)
            differences += found
            cells += compared
        correlations = a.correlations if a.correlations is not None else a.requests // 10
        corr_sets = [ds for ds in sets if ds.kpis]
        for n in range(correlations if corr_sets else 0):
            ds = rng.choice(corr_sets)
            r = draw_correlation(rng, ds, infos[ds.name])
            flags = {"by": "by", "difference": "difference", "per_entity": "per-entity", "start": "from",
                     "end": "to"}
            for f in [f"correlate {r['method']}", f"correlate per {r['per']}", f"correlate {r['kpi'].agg}"] + [
                    f"correlate {label}" for k, label in flags.items() if r[k]]:
                features[f] = features.get(f, 0) + 1
            differences += compare_correlation(con, a.cpiq, ds, r, scratch, n)
        for d in differences:
            print(d, end="\n\n")
        per_set = ", ".join(f"{k}: {v}" for k, v in counts.items())
        print("requests with: " + ", ".join(f"{k} {v}" for k, v in sorted(features.items())))
        print(f"{a.requests} slice requests ({per_set}; {cells} cells compared) and "
              f"{correlations if corr_sets else 0} correlation requests, seed {a.seed}: "
              f"{len(differences)} differences")
        return 1 if differences else 0
    finally:
        if a.keep:
            print(f"scratch: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
