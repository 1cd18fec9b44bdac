#!/usr/bin/python3
"""bench_sklearn.py — Kiln against scikit-learn, and `kiln predict` against the Python CSV
pipeline, in the same run on the same machine.

1. scikit-learn: GradientBoosting, RandomForest, MLP and LogisticRegression classifiers
   (20 features) are saved with joblib, imported with `kiln import`, and timed:
   scikit-learn's predict_proba on in-memory rows against Kiln's C API (bench_model: the
   package loaded, kmodel_predict over the same rows, split across 1 or 2 threads) — batch
   rows/s and single-row latency — plus the largest difference between the two outputs.
2. CSV: a 500k-row, 20-feature CSV scored by an XGBoost model (100 trees, depth 6):
   `kiln predict` against pandas.read_csv -> xgboost predict -> DataFrame.to_csv, each run
   under /usr/bin/time -v for wall time and peak resident memory.

Usage: bench_sklearn.py --kiln build/kiln --bench-model out/bench_model --out DIR
                        [--rows 100000] [--csv-rows 500000] [--skip-csv | --only-csv]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import textwrap
import time

import joblib
import numpy as np

N_FEATURES = 20


def make_data(rng, n):
    x = rng.standard_normal((n, N_FEATURES))
    z = x[:, 0] + np.sin(2 * x[:, 1]) + x[:, 2] * x[:, 3] - 0.5 * x[:, 4] ** 2
    y = (z + 0.3 * rng.standard_normal(n) > 0).astype(int)
    return x, y


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"bench_sklearn: {' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


def timed_best(fn, reps):
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def latency_us(fn, calls):
    lat = []
    for _ in range(2):  # the first pass warms up
        lat = []
        for i in range(calls):
            t = time.perf_counter()
            fn(i)
            lat.append(time.perf_counter() - t)
    lat.sort()
    return lat[len(lat) // 2] * 1e6, lat[int(0.99 * (len(lat) - 1))] * 1e6


def row(cells, widths):
    return "| " + " | ".join(str(c).rjust(w) if i else str(c).ljust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))) + " |"


def print_table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    print(row(header, widths))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(row(r, widths))


def bench_sklearn_models(a):
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(3)
    xtr, ytr = make_data(rng, 20000)
    xte, _ = make_data(rng, a.rows)
    rows_path = os.path.join(a.out, "sk_rows.f64")
    np.ascontiguousarray(xte, dtype=np.float64).tofile(rows_path)
    models = [
        ("GradientBoosting (100 trees, depth 3)", "gb",
         GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0)),
        ("RandomForest (100 trees, unlimited depth)", "rf",
         RandomForestClassifier(n_estimators=100, random_state=0)),
        ("MLP (64, 32)", "mlp", MLPClassifier((64, 32), max_iter=300, random_state=0)),
        ("LogisticRegression", "lr", LogisticRegression(max_iter=1000)),
    ]
    thr_rows, lat_rows = [], []
    for title, tag, est in models:
        est.fit(xtr, ytr)
        src = os.path.join(a.out, f"sk_{tag}.joblib")
        pkg = os.path.join(a.out, f"sk_{tag}.kiln")
        joblib.dump(est, src)
        run([a.kiln, "import", src, "-o", pkg])
        want = est.predict_proba(xte)
        want_path = os.path.join(a.out, f"sk_{tag}_expected.f64")
        np.ascontiguousarray(want, dtype=np.float64).tofile(want_path)
        k = json.loads(run([a.bench_model, pkg, rows_path, want_path, "--calls", "10000"]))

        sk = {}
        for threads in (1, 2):
            if hasattr(est, "n_jobs"):
                est.set_params(n_jobs=threads)
            with threadpool_limits(limits=threads):
                sk[threads] = a.rows / timed_best(lambda: est.predict_proba(xte), 3)
        if hasattr(est, "n_jobs"):
            est.set_params(n_jobs=None)
        with threadpool_limits(limits=1):
            med, p99 = latency_us(lambda i: est.predict_proba(xte[i:i + 1]), 1000)
        thr_rows.append([title, f"{k['rows_per_s_1t'] / 1e6:.3f}", f"{sk[1] / 1e6:.3f}",
                         f"{k['rows_per_s_1t'] / sk[1]:.1f}x", f"{k['rows_per_s_2t'] / 1e6:.3f}",
                         f"{sk[2] / 1e6:.3f}", f"{k['rows_per_s_2t'] / sk[2]:.1f}x",
                         f"{k['max_abs_diff']:.2g}"])
        lat_rows.append([title, f"{k['single_median_us']:.2f}", f"{med:.1f}",
                         f"{med / k['single_median_us']:.0f}x", f"{k['single_p99_us']:.2f}",
                         f"{p99:.1f}", f"{p99 / k['single_p99_us']:.0f}x"])
    print(f"\nKiln C API (kmodel_predict on the imported package) vs scikit-learn predict_proba, "
          f"{a.rows} rows x {N_FEATURES} features, throughput in M rows/s (best of 3-7)")
    print_table(["model", "kiln 1t", "sklearn 1t", "ratio", "kiln 2t", "sklearn 2t", "ratio",
                 "max |diff|"], thr_rows)
    print("\nSingle-row latency in microseconds (Kiln: 10k calls; scikit-learn: 1k calls)")
    print_table(["model", "kiln median", "sklearn median", "ratio", "kiln p99", "sklearn p99",
                 "ratio"], lat_rows)


BASELINE = textwrap.dedent('''\
    # The Python pipeline kiln predict replaces: read the CSV, score, write the CSV.
    import sys
    import pandas as pd
    import xgboost as xgb
    src, model, dst = sys.argv[1:4]
    df = pd.read_csv(src)
    booster = xgb.Booster(model_file=model)
    p = booster.inplace_predict(df.values)
    pd.DataFrame({"prediction": (p > 0.5).astype(int), "proba_0": 1 - p,
                  "proba_1": p}).to_csv(dst, index=False)
    ''')


def time_v(cmd):
    """Runs cmd under /usr/bin/time -v; returns (wall seconds, peak RSS in MiB)."""
    r = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"bench_sklearn: {' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", r.stderr).group(1)
    secs = 0.0
    for part in wall.split(":"):
        secs = secs * 60 + float(part)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    return secs, rss / 1024


def bench_csv(a):
    import pandas as pd
    import xgboost as xgb

    if not os.path.exists(a.kiln):
        print(f"\n[CSV benchmark skipped: {a.kiln} not built]")
        return
    rng = np.random.default_rng(11)
    xtr, ytr = make_data(rng, 20000)
    model = os.path.join(a.out, "csv_xgb.json")
    pkg = os.path.join(a.out, "csv_xgb.kiln")
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "seed": 7,
                         "nthread": 2}, xgb.DMatrix(xtr, label=ytr), num_boost_round=100)
    booster.save_model(model)
    run([a.kiln, "import", model, "-o", pkg])
    big = os.path.join(a.out, f"big_{a.csv_rows}.csv")
    if not os.path.exists(big):
        x, _ = make_data(rng, a.csv_rows)
        x[rng.random(x.shape) < 0.01] = np.nan  # empty fields: missing values
        pd.DataFrame(x, columns=[f"f{i}" for i in range(N_FEATURES)]).to_csv(
            big, index=False, float_format="%.7g")
    base_py = os.path.join(a.out, "csv_baseline.py")
    with open(base_py, "w") as f:
        f.write(BASELINE)
    with open(big, "rb") as f:  # both runs start with the file in the page cache
        while f.read(1 << 24):
            pass
    out_k = os.path.join(a.out, "csv_kiln_out.csv")
    out_p = os.path.join(a.out, "csv_python_out.csv")
    kiln = [a.kiln, "predict", pkg, "--input", big, "--output", out_k]
    python = [sys.executable, base_py, big, model, out_p]
    k = min(time_v(kiln) for _ in range(3))
    p = min(time_v(python) for _ in range(2))
    ko = pd.read_csv(out_k)
    po = pd.read_csv(out_p)
    diff = float(np.max(np.abs(ko["proba_1"].to_numpy() - po["proba_1"].to_numpy())))
    size_mb = os.path.getsize(big) / 2**20
    print(f"\nCSV scoring: {a.csv_rows} rows x {N_FEATURES} features ({size_mb:.0f} MiB), XGBoost "
          f"binary:logistic 100 trees depth 6; wall time and peak RSS from /usr/bin/time -v "
          f"(best of 3 / 2); outputs agree to {diff:.2g}")
    print_table(["metric", "kiln predict", "pandas+xgboost", "ratio"], [
        ["wall time (s)", f"{k[0]:.2f}", f"{p[0]:.2f}", f"{p[0] / k[0]:.1f}x"],
        ["peak RSS (MiB)", f"{k[1]:.1f}", f"{p[1]:.1f}", f"{p[1] / k[1]:.1f}x"],
    ])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default="build/kiln")
    ap.add_argument("--bench-model", default="bench/out/bench_model")
    ap.add_argument("--out", default="bench/out")
    ap.add_argument("--rows", type=int, default=100000)
    ap.add_argument("--csv-rows", type=int, default=500000)
    ap.add_argument("--skip-csv", action="store_true")
    ap.add_argument("--only-csv", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if not a.only_csv:
        bench_sklearn_models(a)
    if not a.skip_csv:
        bench_csv(a)


if __name__ == "__main__":
    main()
