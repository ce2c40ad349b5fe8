"""DuckDB's view of the bundled sample, for `tests/it/profile.rs`.

For each table named on the command line (NAME=GLOB), prints one JSON
object: DuckDB's SUMMARIZE rows, plus for every column its exact distinct
count, exact quartiles (quantile_cont) and the order statistics either
side of each, and the table's row count and
the first and last day of the time columns asked for (NAME.COLUMN).
"""

import json
import sys

import duckdb


def main() -> None:
    con = duckdb.connect()
    out = {}
    tables = [a for a in sys.argv[1:] if "=" in a]
    ranges = [a for a in sys.argv[1:] if "=" not in a]
    for spec in tables:
        name, glob = spec.split("=", 1)
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{glob}')")
        cols = [r[0] for r in con.execute(f"DESCRIBE {name}").fetchall()]
        summary = con.execute(f"SUMMARIZE {name}").fetchall()
        keys = [d[0] for d in con.description]
        rows = [dict(zip(keys, [str(v) if v is not None else None for v in r])) for r in summary]
        for row, col in zip(rows, cols):
            q = f'"{col}"'
            row["exact_distinct"] = con.execute(f"SELECT count(DISTINCT {q}) FROM {name}").fetchone()[0]
            typ = row["column_type"]
            if typ in ("VARCHAR", "BOOLEAN"):
                continue
            exact = con.execute(
                f"SELECT quantile_cont({q}, 0.25), quantile_cont({q}, 0.5), quantile_cont({q}, 0.75) FROM {name}"
            ).fetchone()
            row["exact_q"] = [str(v) for v in exact]
            # The order statistics either side of each quartile's rank
            # (p * (n - 1), as quantile_cont interpolates between them).
            values = [
                r[0]
                for r in con.execute(
                    f"SELECT {q} FROM {name} WHERE {q} IS NOT NULL ORDER BY {q}"
                ).fetchall()
            ]
            rank = [p * (len(values) - 1) for p in (0.25, 0.5, 0.75)]
            row["bracket_q"] = [
                [str(values[int(r)]), str(values[min(int(r) + 1, len(values) - 1)])]
                for r in rank
            ]
        count = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        out[name] = {"rows": count, "summary": rows}
    for spec in ranges:
        name, col = spec.split(".", 1)
        lo, hi = con.execute(
            f'SELECT CAST(min("{col}") AS DATE), CAST(max("{col}") AS DATE) FROM {name}'
        ).fetchone()
        out[name].setdefault("ranges", {})[col] = [str(lo), str(hi)]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
