#!/usr/bin/env python3
"""cpiq against DuckDB and Polars on the same Parquet files, same answers, same 2 threads.

    python3 benches/compare/run.py                 # 10M events
    python3 benches/compare/run.py --events 100M   # 100M events (about 2.4 GB, 3 min to generate)
    python3 benches/compare/run.py --datasets all  # also on the same rows as DuckDB, pyarrow and
                                                   # a streaming writer write them (DATASETS)

What it does, in order:
  1. generates a workspace with `cpiq generate` (customers = events / 50, 36 months) under
     ~/.cache/cpiq-bench/ unless it is there already;
  2. installs DuckDB and Polars from PyPI into a virtual environment of its own
     (~/.cache/cpiq-bench/venv) and re-runs itself there;
  3. runs the suite: every shipped CPI x (a) by channel per month over all data, (b) by
     segment and channel per week over a 6-month window, (c) by region per quarter where
     channel = 'web', (d) by customer per quarter; plus one correlation (first-contact
     resolution with NPS per month, lags 0..3). cpiq runs each query as a user does, one
     process from start to CSV out (`cpiq -w WS -f csv slice … --raw > FILE`; `--cpiq
     library` instead times it through its library on one open session, `cargo bench
     --bench engine -- compare`); DuckDB through SQL on one
     connection; Polars through lazy frames (`--engines duckdb` leaves it out). Each query: one
     warm-up, then 5 timed runs (`--runs N`),
     engine after engine before the next query (whole-process cpiq too), so that a change
     in the host's load falls on every engine alike;
  4. checks that every engine returns the same cells (numerator, denominator, events per
     period and dimension values; r per lag for the correlation) and fails if not;
  5. prints, per query, the median per engine and its ratio to DuckDB, and the geometric
     mean of the ratios; writes every run to benches/compare/results/DATE/DATASET/raw.csv
     with the machine's description, and benches/compare/results/DATE/summary.json (per
     dataset and query the median of each engine, the geometric means and the slowest
     ratio; each query's full cpiq result stays in ~/.cache/cpiq-bench/results/);
  6. with --rollups: builds every CPI's rollup (`cpiq rollup build`, timed), runs each slice
     the rollups cover 20 times after a warm-up (`cargo bench --bench engine -- rollups`),
     checks its cells against DuckDB's raw answer, and prints p50, p95 and max.

cpiq's raw runs never read a rollup (the workspace may have them from an earlier run).

The engines are written independently: DuckDB runs each CPI's SQL body (parameters at
their defaults); Polars re-states each CPI as expressions (POLARS_CPI below).
"""

import argparse
import csv
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cpiq-bench"
THREADS = 2
RUNS = 5
WEEK_FROM, WEEK_TO = "2025-01-01", "2025-07-01"


def parse_size(s):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgG]?)", s)
    if not m:
        sys.exit(f"--events {s!r}: expected a number like 10M")
    return int(float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2).lower()])


def cpi_files():
    """name -> dict(time, dims, entity, params, body) from queries/cpis."""
    out = {}
    for f in sorted((REPO / "queries/cpis").glob("*.sql")):
        header, body, params = {}, [], {}
        for line in f.read_text().splitlines():
            m = re.match(r"--\s*([a-z_]+):\s*(.*)", line)
            if m and not body:
                key, value = m.group(1), m.group(2).split(" #")[0].strip()
                if key == "param":
                    n, d = (x.strip() for x in value.split("=", 1))
                    params[n] = d
                else:
                    header[key] = value
            elif line.strip() and not line.startswith("--"):
                body.append(line)
        text = "\n".join(body)
        for n, d in params.items():
            text = text.replace("${" + n + "}", d)
        out[header["cpi"]] = {
            "time": header["time"],
            "dims": [d.strip() for d in header.get("dimensions", "").split(",") if d.strip()],
            "entity": header.get("entity"),
            "params": params,
            "body": text,
        }
    return out


def suite(cpis):
    """(id, kind, cpiq arguments, spec) for every query."""
    out = []
    for name in cpis:
        out.append((f"{name}.a", "slice", f"{name} by channel per month",
                    dict(cpi=name, by=["channel"], per="month")))
        out.append((f"{name}.b", "slice",
                    f"{name} by segment,channel per week from {WEEK_FROM} to {WEEK_TO}",
                    dict(cpi=name, by=["segment", "channel"], per="week",
                         window=(WEEK_FROM, WEEK_TO))))
        out.append((f"{name}.c", "slice", f"{name} by region per quarter where channel = 'web'",
                    dict(cpi=name, by=["region"], per="quarter", web=True)))
        out.append((f"{name}.d", "slice", f"{name} by customer_id per quarter",
                    dict(cpi=name, by=["customer_id"], per="quarter")))
    out.append(("correlate.fcr_nps", "correlate",
                "first_contact_resolution with kpi_monthly.nps per month lags 0..3",
                dict(cpi="first_contact_resolution", kpi=("kpi_monthly", "nps"), lags=[0, 1, 2, 3])))
    return out


# ---------------------------------------------------------------- datasets

# The same rows as written by other tools (issue 22): cpiq's generator makes
# choices that suit cpiq; analysts' files come from elsewhere.
DATASETS = {
    "cpiq": "cpiq's generator: time-ordered, 1,048,576-row row groups, one file per month",
    "duckdb": "DuckDB's COPY: zstd, its default 122,880-row row groups, rows shuffled, 8 files per table",
    "pyarrow": "pyarrow: snappy, dictionary encoding everywhere, 65,536-row row groups, one file per month",
    "small": "a streaming writer's files: pyarrow, snappy, dictionary, 50,000 rows per file (one row group)",
}


def make_dataset(ws, kind):
    """The workspace `ws` with every folder table rewritten as `kind` writes it
    (single-file tables and the CPI files are copied); made once, under the cache."""
    if kind == "cpiq":
        return ws
    out = ws.parent / f"{ws.name}-{kind}"
    if (out / "cpiq.toml").exists():
        return out
    import shutil
    tmp = ws.parent / f"{ws.name}-{kind}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(ws / "queries", tmp / "queries")
    shutil.copy(ws / "cpiq.toml", tmp / "cpiq.toml")
    (tmp / "data-samples").mkdir()
    print(f"writing the {kind} dataset into {out} …", flush=True)
    for src in sorted((ws / "data-samples").iterdir()):
        dst = tmp / "data-samples" / src.name
        if src.is_file():
            shutil.copy(src, dst)
            continue
        dst.mkdir()
        if kind == "duckdb":
            import duckdb
            con = duckdb.connect()
            con.execute("SET threads = 8")  # one file per thread: 8 files
            con.execute("SELECT setseed(0.42)")
            con.execute(f"COPY (SELECT * FROM read_parquet('{src}/*.parquet') ORDER BY random()) "
                        f"TO '{dst}' (FORMAT parquet, COMPRESSION zstd, PER_THREAD_OUTPUT true)")
        elif kind == "pyarrow":
            import pyarrow.parquet as pq
            for f in sorted(src.glob("*.parquet")):
                pq.write_table(pq.read_table(f), dst / f.name, row_group_size=65536,
                               compression="snappy", use_dictionary=True)
        elif kind == "small":
            import pyarrow.dataset as pads
            fmt = pads.ParquetFileFormat()
            pads.write_dataset(pads.dataset(src, format="parquet").to_table(), dst, format=fmt,
                               file_options=fmt.make_write_options(compression="snappy", use_dictionary=True),
                               max_rows_per_file=50000, max_rows_per_group=50000,
                               basename_template="part-{i}.parquet", existing_data_behavior="overwrite_or_ignore")
        else:
            sys.exit(f"unknown dataset {kind!r} (known: {', '.join(DATASETS)})")
    tmp.rename(out)
    return out


# ---------------------------------------------------------------- DuckDB

def duckdb_engine(ws, cpis):
    import duckdb
    import polars as pl

    con = duckdb.connect()
    con.execute(f"SET threads = {THREADS}")
    data = ws / "data-samples"
    for table in ["orders", "support_cases", "returns", "quote_requests", "survey_responses"]:
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{data / table}/*.parquet')")
    con.execute(f"CREATE VIEW kpi_monthly AS SELECT * FROM read_parquet('{data}/kpi_monthly.parquet')")
    for name, c in cpis.items():
        # Seconds with their fraction, like DataFusion's date_part('epoch', …).
        body = re.sub(r"date_part\('epoch',\s*(\w+)\)", r"(epoch_us(\1) / 1000000.0)", c["body"])
        con.execute(f"CREATE VIEW {name} AS {body}")

    def run(spec):
        if "kpi" in spec:
            return duckdb_correlate(con, cpis, spec)
        c = cpis[spec["cpi"]]
        t = c["time"]
        dims = ", ".join(f"CAST({d} AS VARCHAR) AS {d}" for d in spec["by"])
        conds = []
        if "window" in spec:
            conds.append(f"{t} >= TIMESTAMP '{spec['window'][0]}' AND {t} < TIMESTAMP '{spec['window'][1]}'")
        if spec.get("web"):
            conds.append("channel = 'web'")
        where = f"WHERE {' AND '.join(conds)}" if conds else ""
        sql = (f"SELECT CAST(date_trunc('{spec['per']}', {t}) AS DATE) AS period, {dims}, "
               f"SUM(CAST(numerator AS DOUBLE)) AS numerator, SUM(CAST(denominator AS DOUBLE)) AS denominator, "
               f"COUNT(*) AS events, SUM(CAST(numerator AS DOUBLE)) / NULLIF(SUM(CAST(denominator AS DOUBLE)), 0) AS value "
               f"FROM {spec['cpi']} {where} GROUP BY ALL ORDER BY ALL")
        # Through Arrow into a Polars frame: millions of cells as Python
        # tuples took over 24 GB at 100M events.
        return pl.DataFrame(con.sql(sql))

    return run


def duckdb_correlate(con, cpis, spec):
    c = cpis[spec["cpi"]]
    table, col = spec["kpi"]
    out = []
    for lag in spec["lags"]:
        r = con.execute(f"""
            WITH x AS (SELECT CAST(date_trunc('month', {c['time']}) AS DATE) AS p,
                              SUM(CAST(numerator AS DOUBLE)) / SUM(CAST(denominator AS DOUBLE)) AS v
                       FROM {spec['cpi']} GROUP BY 1),
                 y AS (SELECT CAST(date_trunc('month', month) AS DATE) AS p, AVG({col}) AS v
                       FROM {table} GROUP BY 1)
            SELECT COUNT(*), corr(x.v, y.v) FROM x JOIN y ON y.p = x.p + INTERVAL {lag} MONTH""").fetchone()
        out.append((lag, r[0], r[1]))
    return out


# ---------------------------------------------------------------- Polars

def polars_engine(ws, cpis):
    import polars as pl

    data = ws / "data-samples"
    scan = {t: pl.scan_parquet(str(data / t / "*.parquet"))
            for t in ["orders", "support_cases", "returns", "quote_requests"]}
    kpi = pl.scan_parquet(str(data / "kpi_monthly.parquet"))
    def hours(a, b):
        return (pl.col(a) - pl.col(b)).dt.total_microseconds() / 3.6e9

    def flag(cond):  # CASE WHEN cond THEN 1 ELSE 0 END
        return cond.fill_null(False).cast(pl.Float64)

    def within(a, b, limit_h):
        return flag(pl.col(a).is_not_null() & (hours(a, b) <= limit_h))

    p = {n: float(v) for c in cpis.values() for n, v in c["params"].items()}
    delivered = pl.col("status") == "delivered"
    # name -> (table, filter, numerator); the denominator is 1 for every shipped CPI.
    spec_of = {
        "complete_delivery": ("orders", delivered, flag(pl.col("items_delivered") >= pl.col("items_ordered"))),
        "damage_free_delivery": ("orders", delivered, flag(~pl.col("damaged"))),
        "first_contact_resolution": ("support_cases", pl.col("resolved_at").is_not_null(),
                                     flag(pl.col("contacts") == 1)),
        "on_time_delivery": ("orders", delivered, flag(pl.col("delivered_at") <= pl.col("promised_at"))),
        "quote_answered_within": ("quote_requests", None, within("answered_at", "requested_at", p["hours"])),
        "resolved_within_sla": ("support_cases", None, within("resolved_at", "opened_at", p["sla_hours"])),
        "return_completed_within": ("returns", None, within("completed_at", "requested_at", 24 * p["days"])),
        "time_to_first_response": ("support_cases", pl.col("first_response_at").is_not_null(),
                                   hours("first_response_at", "opened_at")),
    }
    missing = set(cpis) - set(spec_of)
    if missing:
        sys.exit(f"Polars: no expressions for {sorted(missing)}; add them to spec_of")
    every = {"month": "1mo", "week": "1w", "quarter": "1q"}

    def frame(name):
        table, filt, num = spec_of[name]
        lf = scan[table]
        if filt is not None:
            lf = lf.filter(filt)
        return lf.with_columns(numerator=num, denominator=pl.lit(1.0))

    def run(spec):
        c = cpis[spec["cpi"]]
        t = c["time"]
        lf = frame(spec["cpi"])
        if "kpi" in spec:
            x = (lf.group_by(pl.col(t).dt.truncate("1mo").cast(pl.Date).alias("p"))
                 .agg((pl.col("numerator").sum() / pl.col("denominator").sum()).alias("x")))
            table, col = spec["kpi"]
            y = kpi.group_by(pl.col("month").cast(pl.Date).dt.truncate("1mo").alias("p")).agg(pl.col(col).mean().alias("y"))
            x = x.collect()
            y = y.collect()
            out = []
            for lag in spec["lags"]:
                j = x.with_columns(pl.col("p").dt.offset_by(f"{lag}mo")).join(y, on="p")
                out.append((lag, j.height, j.select(pl.corr("x", "y")).item()))
            return out
        if "window" in spec:
            a, b = spec["window"]
            lf = lf.filter((pl.col(t) >= pl.lit(a).str.to_datetime()) & (pl.col(t) < pl.lit(b).str.to_datetime()))
        if spec.get("web"):
            lf = lf.filter(pl.col("channel") == "web")
        keys = [pl.col(t).dt.truncate(every[spec["per"]]).cast(pl.Date).alias("period")] + \
               [pl.col(d).cast(pl.Utf8).alias(d) for d in spec["by"]]
        out = (lf.group_by(keys)
               .agg(pl.col("numerator").sum(), pl.col("denominator").sum(), pl.len().alias("events"))
               .with_columns(value=pl.col("numerator") / pl.col("denominator"))
               .sort(["period"] + spec["by"]).collect())
        return out

    return run


# ---------------------------------------------------------------- answers

def same_cells(cpiq_csv, other, by):
    """None if cpiq's result file and another engine's frame hold the same cells
    (period and dimension values; numerator, denominator, events), else what differs.
    Compared in Polars: the by-customer results have millions of cells."""
    import polars as pl
    keys = ["period"] + by
    cols = ["numerator", "denominator", "events"]
    a = (pl.read_csv(cpiq_csv, schema_overrides={k: pl.Utf8 for k in keys}, infer_schema_length=0)
         .select([pl.col(k) for k in keys] + [pl.col(c).cast(pl.Float64) for c in cols]))
    b = other.select([pl.col(k).cast(pl.Utf8) for k in keys] + [pl.col(c).cast(pl.Float64) for c in cols])
    if a.height != b.height:
        return f"{a.height} cells vs {b.height}"
    j = a.join(b, on=keys, how="left", nulls_equal=True, suffix="_o")

    def close(c):
        x, y = pl.col(c), pl.col(c + "_o")
        return (x - y).abs() <= pl.max_horizontal(pl.lit(1e-6), 1e-9 * y.abs())
    bad = j.filter(~(close("numerator") & close("denominator") & (pl.col("events") == pl.col("events_o"))).fill_null(False))
    if bad.height:
        return f"{bad.height} cells differ, e.g. {bad.head(2).rows()}"
    return None


def cpiq_r(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {int(r["lag"]): (int(r["n"]), float(r["pearson_r"])) for r in rows}


def same_r(a, b):
    for lag, (n, r) in a.items():
        n2, r2 = b[lag]
        if n != n2 or not math.isclose(r, r2, rel_tol=1e-9, abs_tol=1e-9):
            return f"lag {lag}: n={n}, r={r} vs n={n2}, r={r2}"
    return None


# ---------------------------------------------------------------- main

def timed(f, spec):
    f(spec)  # warm-up
    times, result = [], None
    for _ in range(RUNS):
        t = time.perf_counter()
        result = f(spec)
        times.append((time.perf_counter() - t) * 1000)
    return times, result


def cpiq_cli(spec):
    """The one-shot command a user would type for a suite query (raw events)."""
    if "kpi" in spec:
        table, measure = spec["kpi"]
        lags = spec["lags"]
        return ["correlate", spec["cpi"], "--with", f"{table}.{measure}", "--per", "month",
                "--lags", f"{lags[0]}..{lags[-1]}"]
    args = ["slice", spec["cpi"], "--by", ",".join(spec["by"]), "--per", spec["per"], "--raw"]
    if spec.get("window"):
        args += ["--from", spec["window"][0], "--to", spec["window"][1]]
    if spec.get("web"):
        args += ["--where", "channel = 'web'"]
    return args


def cpiq_binary():
    """The release binary of this tree, built first."""
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return str(target / "release" / "cpiq")


def cpiq_process_runs(binary, ws, qid, spec, out):
    """cpiq's side of one query, whole process (issue 22): start, open the
    workspace, plan, run and write CSV to `out/QID.csv`; one warm-up, then
    RUNS runs, whose times (ms) are returned and appended to cpiq_times.csv."""
    env = dict(os.environ, DATAFUSION_EXECUTION_TARGET_PARTITIONS=str(THREADS))
    ms = []
    for run in range(RUNS + 1):
        with open(out / f"{qid}.csv", "wb") as result:
            t = time.perf_counter()
            subprocess.run([binary, "-w", str(ws), "-f", "csv", *cpiq_cli(spec)],
                           stdout=result, env=env, check=True)
            if run:
                ms.append((time.perf_counter() - t) * 1000)
    with open(out / "cpiq_times.csv", "a") as times:
        times.writelines(f"{qid},{i + 1},{t:.3f}\n" for i, t in enumerate(ms))
    return ms


def cpiq_bench(mode, ws, out):
    """cpiq's side: `cargo bench --bench engine -- MODE` over the suite in `out`."""
    subprocess.run(["cargo", "bench", "--quiet", "--bench", "engine", "--", mode, str(ws),
                    str(out / "suite.tsv"), str(out)], cwd=REPO, check=True)


def read_times(path):
    """{query id: [ms, …]} from a timings file cpiq's bench wrote."""
    times = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            times.setdefault(r["id"], []).append(float(r["ms"]))
    return times


def run_rollups(ws, out, queries, table, duckdb_results, raw, failures):
    """Build rollups, time the slices they answer, check them against DuckDB's answers."""
    print("cpiq rollup build …", flush=True)
    # Build the binary first, so that the timing is the rollup build's alone.
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    t = time.perf_counter()
    built = subprocess.run([str(target / "release" / "cpiq"), "-w", str(ws), "-f", "csv", "rollup", "build"],
                           check=True, capture_output=True, text=True)
    build_s = time.perf_counter() - t
    rows = list(csv.DictReader(built.stdout.splitlines()))
    cells = sum(int(r["rows"]) for r in rows)
    print("cpiq rollups …", flush=True)
    cpiq_bench("rollups", ws, out)
    times = read_times(out / "cpiq_rollup_times.csv")
    specs = {qid: spec for qid, _, _, spec in queries}
    duck = {qid: m["duckdb"] for qid, m in table}
    lines = [f"rollups: {len(rows)} CPIs, {cells:,} cells, built in {build_s:.1f} s (one process, "
             f"{rows[0]['grain'] if rows else '?'} grain); each slice 20 runs after a warm-up, ms",
             f"{'query':<34} {'p50':>8} {'p95':>8} {'max':>8} {'duckdb raw':>11} {'speed-up':>9}"]
    p95s = []
    for qid, ts in times.items():
        raw += [(qid, "cpiq-rollup", i + 1, f"{x:.3f}") for i, x in enumerate(ts)]
        s = sorted(ts)
        p95 = s[math.ceil(0.95 * len(s)) - 1]
        p95s.append(p95)
        lines.append(f"{qid:<34} {statistics.median(s):>8.1f} {p95:>8.1f} {s[-1]:>8.1f} "
                     f"{duck[qid]:>11.1f} {duck[qid] / statistics.median(s):>8.0f}x")
        diff = same_cells(out / f"{qid}.rollup.csv", duckdb_results[qid], specs[qid]["by"])
        if diff:
            failures.append(f"{qid}: cpiq's rollup and duckdb differ: {diff}")
    if p95s:
        lines.append(f"slowest p95 from a rollup: {max(p95s):.1f} ms over {len(p95s)} slices")
    return lines


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores, {mem:.1f} GiB; {THREADS} threads per engine"


def main():
    global RUNS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", default="10M", help="workspace size, e.g. 10M or 100M")
    ap.add_argument("--workspace", type=Path, help="use this generated workspace")
    ap.add_argument("--only", help="run only the queries whose id matches this regular expression")
    ap.add_argument("--reuse-cpiq", type=Path, metavar="DIR",
                    help="take cpiq's runs from an earlier invocation's results folder instead of running them")
    ap.add_argument("--datasets", default="cpiq",
                    help="which files: " + ", ".join(DATASETS) + " (comma-separated) or all")
    ap.add_argument("--cpiq", choices=["process", "library"], default="process",
                    help="time cpiq as a user runs it, one process per query from start to CSV "
                         "out (default), or through its library on one open session")
    ap.add_argument("--engines", default="duckdb,polars",
                    help="which engines to time beside cpiq: duckdb (always; the reference) and polars")
    ap.add_argument("--runs", type=int, default=RUNS,
                    help=f"timed runs per query and engine, after a warm-up (default {RUNS}; "
                         "3 is enough at 100M, where a by-customer slice takes seconds)")
    ap.add_argument("--rollups", action="store_true",
                    help="also build rollups and time the slices they answer")
    args = ap.parse_args()
    RUNS = args.runs
    others = [e for e in args.engines.split(",") if e]
    if unknown := set(others) - {"duckdb", "polars"}:
        sys.exit(f"--engines: unknown {', '.join(sorted(unknown))} (known: duckdb, polars)")
    args.engines = ["duckdb"] + [e for e in others if e != "duckdb"]
    events = parse_size(args.events)
    ws = args.workspace or CACHE / f"ws-{args.events}"

    venv = CACHE / "venv"
    if Path(sys.prefix).resolve() != venv.resolve():
        if not (venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin/pip"), "install", "-q", "duckdb", "polars", "pyarrow"], check=True)
        elif subprocess.run([str(venv / "bin/python"), "-c", "import pyarrow"], capture_output=True).returncode:
            subprocess.run([str(venv / "bin/pip"), "install", "-q", "pyarrow"], check=True)
        os.execv(str(venv / "bin/python"), [str(venv / "bin/python"), __file__, *sys.argv[1:]])

    os.environ["POLARS_MAX_THREADS"] = str(THREADS)
    if not (ws / "cpiq.toml").exists():
        print(f"generating {events:,} events into {ws} …", flush=True)
        subprocess.run(["cargo", "run", "--release", "--quiet", "--", "generate", "--out", str(ws),
                        "--customers", str(max(1, events // 50)), "--months", "36"], cwd=REPO, check=True)

    cpis = cpi_files()
    queries = [q for q in suite(cpis) if not args.only or re.search(args.only, q[0])]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = REPO / "benches/compare/results" / stamp
    kept.mkdir(parents=True)
    kinds = list(DATASETS) if args.datasets == "all" else args.datasets.split(",")
    if args.reuse_cpiq and len(kinds) > 1:
        sys.exit("--reuse-cpiq takes one dataset")
    summary = {"machine": machine(), "events": events, "datasets": {}}
    failed = []
    for kind in kinds:
        data_ws = make_dataset(ws, kind)
        result = run_suite(args, data_ws, cpis, queries, CACHE / "results" / stamp / kind,
                           kept / kind, f"{kind}: {DATASETS[kind]}")
        summary["datasets"][kind] = result["summary"]
        summary["versions"] = result["versions"]
        failed += result["failures"]
    import json
    (kept / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    if len(kinds) > 1:
        print("\ngeometric mean of cpiq / DuckDB per dataset (slowest query):")
        for kind, d in summary["datasets"].items():
            print(f"  {kind:<8} {d['geomean']['cpiq']:.2f} ({d['slowest']['cpiq']:.2f})   {DATASETS[kind]}")
    print(f"summary: {kept / 'summary.json'}")
    if failed:
        print("\nANSWERS DIFFER:\n  " + "\n  ".join(failed))
        sys.exit(1)
    print("every engine returned the same answers")


def run_suite(args, ws, cpis, queries, out, kept, title):
    """Every query on one workspace through every engine; prints the table."""
    # Each query's full result (megabytes for the by-customer queries) stays in the
    # cache; the repository keeps the timings, the suite and the machine.
    out.mkdir(parents=True)
    kept.mkdir(parents=True)
    events = parse_size(args.events)
    print(f"\n== {title}", flush=True)
    (out / "suite.tsv").write_text("".join(f"{i}\t{k}\t{a}\n" for i, k, a, _ in queries))

    binary = None  # set when cpiq is timed whole-process, query by query below
    if args.reuse_cpiq:
        print(f"cpiq: runs and results of {args.reuse_cpiq}", flush=True)
        for f in args.reuse_cpiq.glob("*.csv"):
            if not f.name.endswith(".rollup.csv") and f.name != "cpiq_rollup_times.csv":
                (out / f.name).symlink_to(f.resolve())
    elif args.cpiq == "process":
        # Timed query by query below, beside the other engines, so that a
        # change in the host's load falls on every engine alike.
        binary = cpiq_binary()
        (out / "cpiq_times.csv").write_text("id,run,ms\n")
    else:
        print("cpiq (library) …", flush=True)
        cpiq_bench("compare", ws, out)
    cpiq_times = {} if binary else read_times(out / "cpiq_times.csv")

    import duckdb, polars  # noqa: E401 (installed above)
    engines = {"duckdb": duckdb_engine(ws, cpis)}
    if "polars" in args.engines:
        engines["polars"] = polars_engine(ws, cpis)
    versions = {"duckdb": duckdb.__version__, "polars": polars.__version__}
    raw = [("query", "engine", "run", "ms")]
    table = []
    failures = []
    duckdb_results = {}
    for qid, kind, _, spec in queries:
        if binary:
            print(f"cpiq {qid} …", flush=True)
            cpiq_times[qid] = cpiq_process_runs(binary, ws, qid, spec, out)
        medians = {"cpiq": statistics.median(cpiq_times[qid])}
        raw += [(qid, "cpiq", i + 1, f"{t:.3f}") for i, t in enumerate(cpiq_times[qid])]
        for name, run in engines.items():
            print(f"{name} {qid} …", flush=True)
            times, result = timed(run, spec)
            if name == "duckdb" and "customer_id" not in spec.get("by", []):
                duckdb_results[qid] = result  # for the rollup check (not the by-customer ones)
            medians[name] = statistics.median(times)
            raw += [(qid, name, i + 1, f"{t:.3f}") for i, t in enumerate(times)]
            if kind == "slice":
                diff = same_cells(out / f"{qid}.csv", result, spec["by"])
            else:
                diff = same_r(cpiq_r(out / f"{qid}.csv"), {lag: (n, r) for lag, n, r in result})
            if diff:
                failures.append(f"{ws.name} {qid}: cpiq and {name} differ: {diff}")
        table.append((qid, medians))

    rollup_lines = []
    if args.rollups:
        rollup_lines = run_rollups(ws, out, queries, table, duckdb_results, raw, failures)

    (kept / "suite.tsv").write_text((out / "suite.tsv").read_text())
    with open(kept / "raw.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"# {machine()}; duckdb {versions['duckdb']}, polars {versions['polars']}; "
                    f"workspace {ws} ({events:,} events requested); cpiq timed as {args.cpiq}"
                    + (f"; cpiq runs reused from {args.reuse_cpiq}" if args.reuse_cpiq else "")])
        w.writerows(raw)

    print(f"\n{title}\n{machine()}\nduckdb {versions['duckdb']}, polars {versions['polars']}; "
          f"median of {RUNS} runs after a warm-up, ms; ratio = engine / duckdb\n")
    timed_engines = ["cpiq", *engines]
    compared = [e for e in timed_engines if e != "duckdb"]
    print(f"{'query':<34} " + " ".join(f"{e:>9}" for e in timed_engines) + " "
          + " ".join(f"{e + '/duckdb':>14}" for e in compared))
    ratios = {e: [] for e in compared}
    for qid, m in table:
        for e in compared:
            ratios[e].append(m[e] / m["duckdb"])
        print(f"{qid:<34} " + " ".join(f"{m[e]:>9.1f}" for e in timed_engines) + " "
              + " ".join(f"{m[e] / m['duckdb']:>14.2f}" for e in compared))
    geo = {k: math.exp(statistics.mean(math.log(r) for r in v)) for k, v in ratios.items()}
    print("\ngeometric mean of ratios to DuckDB: " + ", ".join(f"{e} {geo[e]:.2f}" for e in compared))
    print(f"slowest cpiq query: {max(ratios['cpiq']):.2f} x DuckDB")
    if rollup_lines:
        print("\n" + "\n".join(rollup_lines))
    print(f"raw runs: {kept / 'raw.csv'}; each query's cpiq result: {out}")
    return {
        "versions": versions,
        "failures": failures,
        "summary": {
            "workspace": str(ws),
            "about": DATASETS.get(ws.name.rsplit("-", 1)[-1], DATASETS["cpiq"]),
            "cpiq_timed_as": args.cpiq,
            "medians_ms": {qid: m for qid, m in table},
            "geomean": geo,
            "slowest": {k: max(v) for k, v in ratios.items()},
        },
    }


if __name__ == "__main__":
    main()
