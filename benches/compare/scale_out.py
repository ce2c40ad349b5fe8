#!/usr/bin/env python3
"""The CPI slice suite in-process, on a loopback Ballista cluster, and from loopback S3.

    python3 benches/compare/scale_out.py                       # 10M events, shape (a)
    python3 benches/compare/scale_out.py --events 100M --only '\\.a$' --no-s3

Uses the workspace `run.py` generates (~/.cache/cpiq-bench/ws-SIZE; run run.py first) and
its suite. For each setup, cpiq's library runs the chosen queries on one session, one
warm-up then 5 timed runs (`cargo bench --bench engine -- compare`, raw events, never a
rollup), and the answers are checked equal to the in-process ones:

  local    in-process, 2 partitions (the comparison harness's setting);
  cluster  `cpiq cluster scheduler` + 2 x `cpiq cluster executor --slots 1` on 127.0.0.1,
           the client with 2 partitions (CPIQ_BENCH_CLUSTER);
  s3       in-process, the workspace's Parquet uploaded to moto's S3 server on 127.0.0.1
           (from ~/.cache/cpiq-moto, which .ci/run installs).

Prints the median per query and setup and the ratio to local; writes raw.csv beside
run.py's results (benches/compare/results/DATE-scale-out/).
"""

import argparse
import csv
import itertools
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as harness  # noqa: E402

REPO = harness.REPO
CACHE = harness.CACHE
MOTO = Path.home() / ".cache" / "cpiq-moto" / "bin"


def free_port(pair=False):
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if not pair:
            return p
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue
        finally:
            t.close()


def binary():
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "release" / "cpiq"


def wait_line(proc, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stderr.readline()
        if what in line:
            return line
        if not line and proc.poll() is not None:
            break
    raise SystemExit(f"no {what!r} from {proc.args}")


def start_cluster(cpiq, work):
    port = free_port()
    procs = [subprocess.Popen([str(cpiq), "cluster", "scheduler", "--bind", f"127.0.0.1:{port}"],
                              stderr=subprocess.PIPE, text=True)]
    wait_line(procs[0], "listening on")
    for i in range(2):
        p = subprocess.Popen([str(cpiq), "cluster", "executor", "--scheduler", f"df://127.0.0.1:{port}",
                              "--bind", f"127.0.0.1:{free_port(pair=True)}", "--slots", "1",
                              "--work-dir", str(work / f"executor{i}")],
                             stderr=subprocess.PIPE, text=True)
        wait_line(p, "ready")
        procs.append(p)
    return f"df://127.0.0.1:{port}", procs


def s3_workspace(ws, out):
    """moto on loopback with the workspace's Parquet; a workspace reading it."""
    port = free_port()
    moto = subprocess.Popen([str(MOTO / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            break
        except OSError:
            if time.time() > deadline:
                raise SystemExit("moto did not start")
            time.sleep(0.1)
    t = time.perf_counter()
    upload = f"""
import boto3, os
from boto3.s3.transfer import TransferConfig
s3 = boto3.client('s3', endpoint_url='{endpoint}', region_name='us-east-1',
                  aws_access_key_id='test', aws_secret_access_key='test')
s3.create_bucket(Bucket='cpiq')
root = {str(ws)!r}
for d, _, fs in os.walk(root):
    if '/.cpiq' in d:
        continue
    for f in fs:
        if f.endswith('.parquet'):
            p = os.path.join(d, f)
            s3.upload_file(p, 'cpiq', 'lake/' + os.path.relpath(p, root), Config=TransferConfig(max_concurrency=2))
"""
    subprocess.run([str(MOTO / "python"), "-c", upload], check=True)
    print(f"uploaded {ws} to moto in {time.perf_counter() - t:.0f} s", flush=True)
    dst = out / "ws-s3"
    dst.mkdir(parents=True, exist_ok=True)
    toml = (ws / "cpiq.toml").read_text()
    toml = re.sub(r'path = "(?!s3://)([^"]+)"', lambda m: f'path = "s3://cpiq/lake/{m.group(1)}"', toml)
    toml = re.sub(r'cpis = "([^"]+)"', lambda m: f'cpis = "{(ws / m.group(1)).resolve()}"', toml)
    toml += f'\n[storage]\nendpoint = "{endpoint}"\nregion = "us-east-1"\nallow_http = true\n'
    (dst / "cpiq.toml").write_text(toml)
    os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    return dst, moto


def bench(ws, out, env=None):
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(out.parent / "suite.tsv", out / "suite.tsv")
    subprocess.run(["cargo", "bench", "--quiet", "--bench", "engine", "--", "compare", str(ws),
                    str(out / "suite.tsv"), str(out)], cwd=REPO, check=True, env={**os.environ, **(env or {})})
    return harness.read_times(out / "cpiq_times.csv")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", default="10M")
    ap.add_argument("--only", default=r"\.a$", help="queries whose id matches (default: shape a)")
    ap.add_argument("--no-s3", action="store_true", help="skip the object-store setup")
    args = ap.parse_args()
    ws = CACHE / f"ws-{args.events}"
    if not (ws / "cpiq.toml").exists():
        raise SystemExit(f"{ws} is missing: run benches/compare/run.py --events {args.events} first")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = CACHE / "results" / f"{stamp}-scale-out"
    out.mkdir(parents=True)
    cpis = harness.cpi_files()
    queries = [q for q in harness.suite(cpis) if re.search(args.only, q[0])]
    with open(out / "suite.tsv", "w") as f:
        for qid, kind, text, _ in queries:
            f.write(f"{qid}\t{kind}\t{text}\n")
    cpiq = binary()

    setups = {}
    print("local …", flush=True)
    setups["local"] = bench(ws, out / "local")
    print("cluster …", flush=True)
    url, procs = start_cluster(cpiq, out / "cluster-work")
    try:
        setups["cluster"] = bench(ws, out / "cluster", {"CPIQ_BENCH_CLUSTER": url})
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(out / "cluster-work", ignore_errors=True)
    if not args.no_s3:
        print("s3 …", flush=True)
        s3ws, moto = s3_workspace(ws, out)
        try:
            setups["s3"] = bench(s3ws, out / "s3")
        finally:
            moto.terminate()
            moto.wait()

    failures = []
    for name in setups:
        for qid, _, _, _ in queries:
            diff = same_result(out / name / f"{qid}.csv", out / "local" / f"{qid}.csv")
            if diff:
                failures.append(f"{qid}: {name} differs from local: {diff}")

    names = list(setups)
    print(f"\n{harness.machine()}; workspace {ws}")
    print(f"{'query':<34}" + "".join(f"{n + ' ms':>12}" for n in names) + "".join(f"{n + '/local':>15}" for n in names[1:]))
    ratios = {n: [] for n in names[1:]}
    raw = []
    for qid, _, _, _ in queries:
        med = {n: statistics.median(setups[n][qid]) for n in names}
        for n in names:
            raw += [(qid, n, i + 1, f"{x:.3f}") for i, x in enumerate(setups[n][qid])]
        for n in names[1:]:
            ratios[n].append(med[n] / med["local"])
        print(f"{qid:<34}" + "".join(f"{med[n]:>12.1f}" for n in names)
              + "".join(f"{med[n] / med['local']:>15.2f}" for n in names[1:]))
    print(f"{'geometric mean of ratios':<34}" + " " * 12 * len(names)
          + "".join(f"{math.exp(statistics.mean(map(math.log, ratios[n]))):>15.2f}" for n in names[1:]))
    keep = REPO / "benches" / "compare" / "results" / f"{stamp}-scale-out"
    keep.mkdir(parents=True)
    with open(keep / "raw.csv", "w", newline="") as f:
        f.write(f"# {harness.machine()}; workspace {ws}; setups {', '.join(names)}\n")
        w = csv.writer(f)
        w.writerow(["query", "setup", "run", "ms"])
        w.writerows(raw)
    print(f"raw timings: {keep / 'raw.csv'}")
    if failures:
        print("\n".join(failures))
        raise SystemExit(1)


def same_result(a, b):
    """None if two of cpiq's CSV results hold the same rows (numbers equal up to the
    last bits a different summation order gives), else what differs. Streams: the
    by-customer results at 100M events have millions of rows."""
    with open(a, newline="") as fa, open(b, newline="") as fb:
        x, y = csv.reader(fa), csv.reader(fb)
        for i, (r, s) in enumerate(itertools.zip_longest(x, y)):
            if r is None or s is None:
                return f"row counts differ at row {i}"
            for u, v in zip(r, s):
                if u == v:
                    continue
                try:
                    p, q = float(u), float(v)
                except ValueError:
                    return f"row {i}: {r} vs {s}"
                if abs(p - q) > 1e-12 * max(abs(q), 1.0):
                    return f"row {i}: {r} vs {s}"
    return None


if __name__ == "__main__":
    main()
