#!/usr/bin/env python3
"""Reference values for cpiq's time-series statistics, from statsmodels.

Writes tests/reference/timeseries.json: monthly series (deterministic, from
numpy's seeded generator) and what statsmodels computes on them:

- Granger F tests: `grangercausalitytests` (ssr F test) for trend "c"; OLS
  `compare_f_test` for trend "ct", gaps and lag orders chosen by AIC; OLS
  `f_test` (Wald in F form) for Toda-Yamamoto augmentation;
- AR orders and coefficients: `ar_select_order(..., ic="aic", trend="c")`
  and `AutoReg(..., trend="c")`;
- prewhitened cross-correlations: numpy's `corrcoef` on the filtered series.

The Rust tests (tests/it/granger.rs, and unit tests in src/analysis/
timeseries) read the JSON and compare cpiq's figures to 1e-6. Regenerate
with:

    python3 -m venv ~/.cache/cpiq-stats
    ~/.cache/cpiq-stats/bin/pip install -r tests/reference/requirements.txt
    ~/.cache/cpiq-stats/bin/python tests/reference/timeseries.py

`.ci/run` does this on every run, into a scratch file it points the tests
at (CPIQ_TIMESERIES_REFERENCE), so the committed values cannot go stale.
"""

import json
import warnings
import sys
from pathlib import Path

import numpy as np
import statsmodels.api as sm
from statsmodels.tsa.ar_model import AutoReg, ar_select_order
from statsmodels.tsa.stattools import grangercausalitytests

warnings.filterwarnings("ignore", category=FutureWarning)  # grangercausalitytests verbose

T = 60
rng = np.random.default_rng(20261202)


def ar1(phi, n):
    e = rng.normal(size=n + 50)
    x = np.zeros(n + 50)
    for t in range(1, n + 50):
        x[t] = phi * x[t - 1] + e[t]
    return x[50:]


# Case 1: x drives y one month later; both stationary.
x1 = 0.5 + 0.05 * ar1(0.4, T)
y1 = np.empty(T)
y1[0] = 30.0
y1[1:] = 30.0 + 40.0 * (x1[:-1] - 0.5) + rng.normal(size=T - 1)
# Case 2: both share a linear trend, nothing else; a gap in each.
trend = np.arange(T) / T
x2 = 0.6 + 0.2 * trend + 0.02 * ar1(0.5, T)
y2 = 20.0 + 8.0 * trend + 0.8 * ar1(0.5, T)
x2[17] = np.nan
y2[40] = np.nan
# Case 3: an AR(2) CPI and a KPI that follows it, for prewhitening.
e = rng.normal(size=T + 50)
x3 = np.zeros(T + 50)
for t in range(2, T + 50):
    x3[t] = 0.6 * x3[t - 1] - 0.3 * x3[t - 2] + e[t]
x3 = 0.7 + 0.03 * x3[50:]
y3 = np.empty(T)
y3[0] = 10.0
y3[1:] = 10.0 + 50.0 * (x3[:-1] - 0.7) + 0.5 * ar1(0.6, T - 1)

# Case 4: an AR(1) CPI unrelated to any KPI, for the drivers model.
x4 = 0.8 + 0.02 * ar1(0.5, T)

series = {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "x3": x3, "y3": y3, "x4": x4}


def design(x, y, n, trend, augment, rows=None):
    """Full and restricted designs of `x leads y` at order n (+ augment)."""
    k = n + augment
    cols = {"y": y}
    for i in range(1, k + 1):
        cols[f"y{i}"] = np.r_[[np.nan] * i, y[:-i]]
        cols[f"x{i}"] = np.r_[[np.nan] * i, x[:-i]]
    mat = np.column_stack(list(cols.values()))
    names = list(cols)
    keep = ~np.isnan(mat).any(axis=1)
    if rows is not None:
        keep &= rows
    t = np.arange(len(y), dtype=float)[keep]
    m = mat[keep]
    base = [np.ones(len(m))]
    if trend == "ct":
        base.append(t)
    own = [m[:, names.index(f"y{i}")] for i in range(1, k + 1)]
    other = [m[:, names.index(f"x{i}")] for i in range(1, k + 1)]
    full = np.column_stack(base + own + other)
    restricted = np.column_stack(base + own + other[n:])
    return m[:, 0], full, restricted, len(base) + k


def reach(x, y, k):
    """Rows with k lags of both series behind them (no gaps)."""
    ok = np.zeros(len(y), dtype=bool)
    for t in range(len(y)):
        if t >= k and not np.isnan(x[t - k:t]).any() and not np.isnan(y[t - k:t]).any():
            ok[t] = True
    return ok


def granger(cpi, kpi, direction, lags=None, max_lag=None, trend="ct", augment=0):
    x, y = series[cpi], series[kpi]
    if direction == "kpi_leads":
        x, y = y, x
    if lags is None:
        common = reach(x, y, max_lag + augment)
        aics = []
        for n in range(1, max_lag + 1):
            yy, full, _, _ = design(x, y, n, trend, augment, common)
            aics.append(sm.OLS(yy, full).fit().aic)
        n = int(np.argmin(aics)) + 1
    else:
        n = lags
    yy, full, restricted, offset = design(x, y, n, trend, augment)
    fit = sm.OLS(yy, full).fit()
    if augment:
        r = np.zeros((n, full.shape[1]))
        for i in range(n):
            r[i, offset + i] = 1.0
        w = fit.f_test(r)
        f, p, df_num, df_den = float(np.squeeze(w.fvalue)), float(w.pvalue), int(w.df_num), int(w.df_denom)
    else:
        f, p, df_diff = fit.compare_f_test(sm.OLS(yy, restricted).fit())
        df_num, df_den = int(df_diff), int(fit.df_resid)
    if trend == "c" and augment == 0 and not (np.isnan(x).any() or np.isnan(y).any()):
        # The same figures from statsmodels' own Granger test.
        g = grangercausalitytests(np.column_stack([y, x]), maxlag=[n], verbose=False)
        gf, gp, gden, gnum = g[n][0]["ssr_ftest"]
        assert abs(gf - f) < 1e-9 and abs(gp - p) < 1e-12 and (gden, gnum) == (df_den, df_num)
    args = ["--trend", trend]
    args += ["--lags", str(lags)] if lags is not None else ["--max-lag", str(max_lag)]
    if augment:
        args += ["--augment", str(augment)]
    return {
        "cpi": cpi, "kpi": kpi, "direction": direction, "args": args,
        "lags": n, "n": int(len(yy)), "f_stat": f, "df_num": df_num, "df_den": df_den, "p_value": p,
    }


cases = []
for cpi, kpi in [("x1", "y1"), ("x3", "y3")]:
    for d in ["cpi_leads", "kpi_leads"]:
        cases.append(granger(cpi, kpi, d, lags=2, trend="c"))
        cases.append(granger(cpi, kpi, d, max_lag=4, trend="c"))
        cases.append(granger(cpi, kpi, d, lags=2, trend="ct"))
        cases.append(granger(cpi, kpi, d, max_lag=4, trend="ct"))
        cases.append(granger(cpi, kpi, d, lags=2, trend="ct", augment=1))
for d in ["cpi_leads", "kpi_leads"]:
    cases.append(granger("x2", "y2", d, lags=2, trend="ct"))
    cases.append(granger("x2", "y2", d, lags=3, trend="c"))
    cases.append(granger("x2", "y2", d, max_lag=3, trend="ct", augment=1))

ar = []
prewhiten = []
for cpi, kpi in [("x1", "y1"), ("x3", "y3")]:
    x, y = series[cpi], series[kpi]
    sel = ar_select_order(x, maxlag=4, ic="aic", trend="c")
    p = 0 if not sel.ar_lags else max(sel.ar_lags)
    res = AutoReg(x, lags=p, trend="c").fit()
    phi = [float(v) for v in res.params[1:]]
    ar.append({"series": cpi, "max_lag": 4, "order": p, "const": float(res.params[0]), "phi": phi, "nobs": int(res.nobs)})
    def filt(s):
        out = np.full(len(s), np.nan)
        for t in range(p, len(s)):
            out[t] = s[t] - sum(phi[i] * s[t - 1 - i] for i in range(p))
        return out
    fx, fy = filt(x), filt(y)
    r = {}
    for lag in range(0, 4):
        a, b = fx[: len(fx) - lag], fy[lag:]
        ok = ~(np.isnan(a) | np.isnan(b))
        r[str(lag)] = {"n": int(ok.sum()), "r": float(np.corrcoef(a[ok], b[ok])[0, 1])}
    prewhiten.append({"cpi": cpi, "kpi": kpi, "max_lag": 4, "order": p, "lags": r})

def splitmix64(seed):
    state = seed
    mask = (1 << 64) - 1
    while True:
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        yield z ^ (z >> 31)


def corr_at(a, b, lag):
    """Pearson r of a_t with b_(t+lag) over pairs where both exist."""
    u, v = a[: len(a) - lag], b[lag:]
    ok = ~(np.isnan(u) | np.isnan(v))
    return float(np.corrcoef(u[ok], v[ok])[0, 1]), int(ok.sum())


def drivers(kpi, cpis, max_lag, trend="ct", placebos=200, seed=1):
    """What `cpiq drivers` reports per CPI, recomputed from the definitions."""
    y = series[kpi]
    n_grid = len(y)
    rows = {}
    for c in cpis:
        x = series[c]
        sel = ar_select_order(x, maxlag=max_lag, ic="aic", trend="c")
        p = 0 if not sel.ar_lags else max(sel.ar_lags)
        phi = AutoReg(x, lags=p, trend="c").fit().params[1:]
        def filt(s):
            out = np.full(len(s), np.nan)
            for t in range(p, len(s)):
                out[t] = s[t] - sum(phi[i] * s[t - 1 - i] for i in range(p))
            return out
        e, f = filt(x), filt(y)
        rs = [corr_at(e, f, lag)[0] for lag in range(1, max_lag + 1)]
        lead = int(np.argmax(np.abs(rs))) + 1
        r_pw = rs[lead - 1]
        r_lv = corr_at(x, y, lead)[0]
        # The Granger order (AIC on the common sample, as granger() above).
        order = granger(c, kpi, "cpi_leads", max_lag=max_lag, trend=trend)
        q, n_obs = order["lags"], order["n"]
        holdout = min(12, int((~(np.isnan(x) | np.isnan(y))).sum()) // 4)
        yy, full, _, _ = design(x, y, q, trend, 0)
        base = full[:, : (2 if trend == "ct" else 1) + q]
        err_b = err_f = 0.0
        for i in range(len(yy) - holdout, len(yy)):
            bb = np.linalg.lstsq(base[:i], yy[:i], rcond=None)[0]
            bf = np.linalg.lstsq(full[:i], yy[:i], rcond=None)[0]
            err_b += abs(yy[i] - base[i] @ bb)
            err_f += abs(yy[i] - full[i] @ bf)
        gain = 1.0 - err_f / err_b
        rng = splitmix64(seed)
        lo, hi = max_lag + 1, n_grid - max_lag - 1
        hits = 0
        for _ in range(placebos):
            s_ = lo + next(rng) % (hi - lo + 1)
            shifted = np.array([e[(t + s_) % n_grid] for t in range(n_grid)])
            if abs(corr_at(shifted, f, lead)[0]) >= abs(r_pw):
                hits += 1
        rows[c] = {"lead": lead, "r_levels": r_lv, "r_prewhitened": r_pw, "oos_gain": gain,
                   "placebo_p": (1 + hits) / (1 + placebos), "granger_lags": q}
    # The multivariate model: KPI(t) on every CPI at its lead, z-scored.
    cols = {c: np.r_[[np.nan] * rows[c]["lead"], series[c][: -rows[c]["lead"]]] for c in cpis}
    mat = np.column_stack([y] + [cols[c] for c in cpis])
    keep = ~np.isnan(mat).any(axis=1)
    t = np.arange(n_grid, dtype=float)[keep]
    m = mat[keep]
    z = (m - m.mean(axis=0)) / m.std(axis=0, ddof=1)
    def exog(idx):
        parts = [np.ones(len(z))] + ([t] if trend == "ct" else []) + [z[:, 1 + i] for i in idx]
        return np.column_stack(parts)
    nw = int(np.floor(4 * (len(z) / 100) ** (2 / 9)))
    fit = sm.OLS(z[:, 0], exog(range(len(cpis)))).fit(cov_type="HAC", cov_kwds={"maxlags": nw})
    off = 2 if trend == "ct" else 1
    from itertools import combinations
    from math import factorial
    def r2(idx):
        return sm.OLS(z[:, 0], exog(idx)).fit().rsquared
    k = len(cpis)
    for j, c in enumerate(cpis):
        others = [i for i in range(k) if i != j]
        share = 0.0
        for size in range(k):
            for subset in combinations(others, size):
                w = factorial(size) * factorial(k - size - 1) / factorial(k)
                share += w * (r2(list(subset) + [j]) - r2(list(subset)))
        rows[c].update({"coef": float(fit.params[off + j]), "coef_se": float(fit.bse[off + j]),
                        "coef_p": float(fit.pvalues[off + j]), "importance": share,
                        "model_r2": float(fit.rsquared)})
    return {"kpi": kpi, "cpis": cpis, "max_lag": max_lag, "trend": trend, "placebos": placebos,
            "seed": seed, "n_model": int(len(z)), "newey_west_lags": nw, "rows": rows}


out = {
    "start": "2020-01-01",
    "series": {k: [None if np.isnan(v) else float(v) for v in s] for k, s in series.items()},
    "granger": cases,
    "ar": ar,
    "prewhiten": prewhiten,
    "drivers": [drivers("y1", ["x1", "x3", "x4"], 3)],
}
target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_suffix(".json")
target.write_text(json.dumps(out, indent=1) + "\n")
print(f"wrote {target}: {len(cases)} Granger tests, {len(ar)} AR fits")
