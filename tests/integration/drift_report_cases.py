#!/usr/bin/python3
"""drift_report_cases.py KILN SCRATCH — `kiln drift` against scipy on seeded numpy CSVs.

Features: 'shifted' (mean +0.8 sd: drift), 'same' (same distribution: no drift), 'holes'
(10 % / 20 % empty fields), 'codes' (integer codes 0..4 vs 0..5: categorical), 'label' (text:
skipped). Exact scores must match to TOL: exact_ks == scipy.stats.ks_2samp statistic,
exact_wasserstein == wasserstein_distance / np.std(ref), JS == jensenshannon(base=2) on the bin
counts (which are recomputed from the data with numpy), decile edges == np.quantile.
Then the HTML report, and the exit codes of the error cases. --model: an XGBoost classifier
(registered, used as NAME@VERSION) and regressor (a .kiln file) trained on 'shifted' and 'same';
the 'prediction' / 'confidence' entries must match scipy on the model's own outputs (`kiln
predict` on the same files) and the classifier's prediction must drift. Prints ok/FAIL per
check; exit status = failures.
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp, wasserstein_distance

TOL = 1e-9
KILN, DIR = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../lib"))
from kilntest import check, finish  # noqa: E402


def write_csv(path, cols, n):
    names = list(cols)
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        for i in range(n):
            cells = []
            for k in names:
                v = cols[k][i]
                if isinstance(v, str):
                    cells.append(v)
                elif isinstance(v, (int, np.integer)):
                    cells.append(str(int(v)))
                else:
                    cells.append("" if np.isnan(v) else repr(float(v)))
            f.write(",".join(cells) + "\n")


def make_data():
    rng = np.random.default_rng(20240611)
    n = 4000
    holes_r = rng.normal(5, 2, n)
    holes_r[rng.random(n) < 0.1] = np.nan
    holes_c = rng.normal(5, 2, n)
    holes_c[rng.random(n) < 0.2] = np.nan
    ref = {"shifted": rng.normal(0, 1, n), "same": rng.normal(0, 1, n), "holes": holes_r,
           "codes": rng.integers(0, 5, n), "label": ["a", "b"] * (n // 2),
           "only_ref": rng.normal(0, 1, n)}
    cur = {"shifted": rng.normal(0.8, 1, n), "same": rng.normal(0, 1, n), "holes": holes_c,
           "codes": rng.integers(0, 6, n), "label": ["b", "c"] * (n // 2),
           "only_cur": rng.normal(0, 1, n)}
    write_csv(os.path.join(DIR, "ref.csv"), ref, n)
    write_csv(os.path.join(DIR, "cur.csv"), cur, n)
    return ref, cur


def run(*args):
    p = subprocess.run([KILN, "drift", *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def numeric_bins(r, c, edges):
    """Counts on the reference deciles: value v falls in #{k in 1..9: edges[k] <= v}."""
    inner = np.asarray(edges[1:-1])
    br = np.bincount(np.searchsorted(inner, r, side="right"), minlength=10)
    bc = np.bincount(np.searchsorted(inner, c, side="right"), minlength=10)
    return br, bc


def close(a, b):
    return a is not None and abs(a - b) <= TOL * max(1.0, abs(b))


def check_numeric(f, r, c):
    r, c = r[~np.isnan(r)], c[~np.isnan(c)]
    name = f["name"]
    ks = ks_2samp(r, c).statistic
    w = wasserstein_distance(r, c) / max(np.std(r), 0.001)
    edges = f["bins"]["edges"]
    q = np.quantile(r, np.linspace(0, 1, 11))
    br, bc = numeric_bins(r, c, edges)
    js = jensenshannon(br, bc, base=2)
    d = max(abs(f["exact_ks"] - ks), abs(f["exact_wasserstein"] - w), abs(f["js"] - js),
            float(np.max(np.abs(np.asarray(edges) - q))))
    check(f"{name}: exact KS / Wasserstein / JS / edges vs scipy, max diff {d:.3g}",
          close(f["exact_ks"], ks) and close(f["exact_wasserstein"], w) and close(f["js"], js)
          and np.allclose(edges, q, rtol=TOL, atol=TOL)
          and list(br) == f["bins"]["ref_counts"] and list(bc) == f["bins"]["cur_counts"])
    return f


def check_categorical(f, r, c):
    k = f["bins"]["ref_counts"].__len__() - 1
    br = np.bincount(np.minimum(r, k), minlength=k + 1)
    bc = np.bincount(np.minimum(c, k), minlength=k + 1)
    js = jensenshannon(br, bc, base=2)
    check(f"{f['name']}: categorical counts and JS, diff {abs(f['js'] - js):.3g}",
          list(br) == f["bins"]["ref_counts"] and list(bc) == f["bins"]["cur_counts"]
          and close(f["js"], js))


def check_report(ref, cur):
    rc, out, err = run(os.path.join(DIR, "ref.csv"), os.path.join(DIR, "cur.csv"), "--json",
                       "--html", os.path.join(DIR, "report.html"), "--threads", "2")
    check(f"--json exit code 0 (got {rc}: {err.strip()})", rc == 0)
    if rc:
        return None
    doc = json.loads(out)
    feats = {f["name"]: f for f in doc["features"]}
    for name in ("shifted", "same", "holes"):
        check_numeric(feats[name], np.asarray(ref[name], float), np.asarray(cur[name], float))
    check_categorical(feats["codes"], np.asarray(ref["codes"]), np.asarray(cur["codes"]))
    check("codes is categorical", feats["codes"]["type"] == "categorical")
    check("shifted -> drift", feats["shifted"]["verdict"] == "drift")
    check("same -> no drift", feats["same"]["verdict"] == "no drift")
    check("holes -> no drift", feats["holes"]["verdict"] == "no drift")
    check("holes: missing counts",
          feats["holes"]["ref_missing"] == int(np.isnan(ref["holes"]).sum())
          and feats["holes"]["cur_missing"] == int(np.isnan(cur["holes"]).sum()))
    check("label (text) is skipped with a reason",
          feats["label"]["verdict"] == "skipped" and "not numeric" in feats["label"]["reason"])
    check("columns in one file only are reported",
          doc["only_in_reference"] == ["only_ref"] and doc["only_in_current"] == ["only_cur"])
    compared = [f for f in doc["features"] if f["verdict"] not in ("skipped", "failed")]
    share = sum(f["drift"] for f in compared) / len(compared)
    check(f"dataset verdict (share {share})",
          close(doc["drift_share"], share) and doc["dataset_drift"] == (share >= 0.5))
    return compared


def check_html(compared):
    with open(os.path.join(DIR, "report.html")) as f:
        html = f.read()
    check("HTML document is complete",
          html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>"))
    check(f"one <svg> per compared feature ({html.count('<svg')})",
          html.count("<svg") == len(compared) and html.count("</svg>") == len(compared))
    check("no network references in HTML", "http://" not in html and "https://" not in html)


def check_errors():
    ref, cur = os.path.join(DIR, "ref.csv"), os.path.join(DIR, "cur.csv")
    empty, ragged, other = (os.path.join(DIR, n) for n in ("empty.csv", "ragged.csv", "o.csv"))
    open(empty, "w").close()
    with open(ragged, "w") as f:
        f.write("shifted,same\n1,2\n3\n")
    with open(other, "w") as f:
        f.write("x,y\n1,2\n")
    cases = [("missing file", [ref, os.path.join(DIR, "nope.csv")], 1),
             ("empty file", [empty, cur], 1), ("ragged row", [ref, ragged], 1),
             ("no common column", [ref, other], 1), ("unknown --columns", [ref, cur,
             "--columns", "zzz"], 1), ("one file", [ref], 2), ("bad --share", [ref, cur,
             "--share", "2"], 2), ("bad option", [ref, cur, "--bogus"], 2)]
    for what, args, want in cases:
        rc, _, err = run(*args)
        one_line = err.strip().count("\n") == 0 if want == 1 else True
        check(f"{what}: exit {rc} (want {want}): {err.strip().splitlines()[0] if err else ''}",
              rc == want and err.startswith("kiln") and one_line)
    rc, out, _ = run(ref, cur, "--columns", "same,shifted")
    check("--columns selects features", rc == 0 and "same" in out and "holes" not in out)


def kiln(*args):
    return subprocess.run([KILN, *args], capture_output=True, text=True, timeout=120)


def train_models(ref):
    """Imports an XGBoost classifier and regressor on (shifted, same) as .kiln files."""
    import pandas as pd
    import xgboost as xgb
    X = pd.DataFrame({"shifted": ref["shifted"], "same": ref["same"]})
    y = (X["shifted"] + 0.3 * X["same"] > 0).astype(int)
    clf = xgb.XGBClassifier(n_estimators=8, max_depth=3, random_state=1).fit(X, y)
    reg = xgb.XGBRegressor(n_estimators=8, max_depth=3, random_state=1).fit(
        X, 2 * X["shifted"] - X["same"])
    paths = {}
    for name, m in (("clf", clf), ("reg", reg)):
        src, pkg = os.path.join(DIR, name + ".json"), os.path.join(DIR, name + ".kiln")
        m.save_model(src)
        r = kiln("import", src, "-o", pkg)
        check(f"kiln import {name}: {r.stderr.strip()}", r.returncode == 0)
        paths[name] = pkg
    return paths


def model_outputs(pkg, csv):
    """The model's predictions on csv, from `kiln predict`: (prediction, confidence)."""
    out = os.path.join(DIR, "pred.csv")
    r = kiln("predict", pkg, "--input", csv, "--output", out)
    check(f"kiln predict {os.path.basename(csv)}: {r.stderr.strip()}", r.returncode == 0)
    with open(out) as f:
        header = f.readline().strip().split(",")
        rows = [line.strip().split(",") for line in f if line.strip()]
    if header[1:] and header[1].startswith("proba_"):
        p = np.asarray([[float(v) for v in row[1:]] for row in rows])
        return np.argmax(p, axis=1), np.max(p, axis=1)
    return np.asarray([float(row[0]) for row in rows]), None


def check_model(paths):
    ref, cur = os.path.join(DIR, "ref.csv"), os.path.join(DIR, "cur.csv")
    home = os.path.join(DIR, "home")
    r = kiln("models", "register", paths["clf"], "--name", "drifty", "--home", home)
    check(f"register the classifier: {r.stderr.strip()}", r.returncode == 0)
    rc, out, err = run(ref, cur, "--json", "--model", "drifty@1", "--home", home,
                       "--html", os.path.join(DIR, "model.html"))
    check(f"--model drifty@1: exit {rc} {err.strip()}", rc == 0)
    if rc == 0:
        doc = json.loads(out)
        feats = {f["name"]: f for f in doc["features"]}
        (pr, cr), (pc, cc) = model_outputs(paths["clf"], ref), model_outputs(paths["clf"], cur)
        p, c = feats["prediction"], feats["confidence"]
        check("prediction: categorical output", p["model_output"] and p["type"] == "categorical")
        check_categorical(p, pr, pc)
        check(f"classifier prediction drifts (JS {p['js']:.3f})",
              p["verdict"] == "drift" and doc["prediction_drift"] is True)
        check("confidence: numeric output", c["model_output"] and c["type"] == "numeric")
        check_numeric(c, cr, cc)
        check("model outputs stay out of the dataset share",
              doc["n_compared"] == 4 and doc["model"] == "drifty@1")
        with open(os.path.join(DIR, "model.html")) as f:
            html = f.read()
        check("HTML shows the model outputs", "drifty@1" in html and html.count("<svg") == 6)
    rc, out, err = run(ref, cur, "--model", paths["reg"], "--columns", "codes")
    check(f"--model FILE.kiln with --columns: exit {rc} {err.strip()}",
          rc == 0 and "prediction" in out and "model" in out and "shifted" not in out)
    rc, out, err = run(ref, cur, "--json", "--model", paths["reg"])
    if rc == 0:
        f = {x["name"]: x for x in json.loads(out)["features"]}["prediction"]
        (pr, _), (pc, _) = model_outputs(paths["reg"], ref), model_outputs(paths["reg"], cur)
        check("regressor: one numeric output", f["type"] == "numeric" and "confidence" not in out)
        check_numeric(f, pr, pc)
    one = os.path.join(DIR, "one.csv")
    with open(one, "w") as fh:
        fh.write("shifted\n1\n2\n")
    for what, args in (("unknown model ref", [ref, cur, "--model", "nope@3", "--home", home]),
                       ("missing model file", [ref, cur, "--model", "no.kiln"]),
                       ("CSV lacks a model feature", [one, one, "--model", paths["reg"]])):
        rc, _, err = run(*args)
        check(f"{what}: exit {rc} (want 1): {err.strip()}",
              rc == 1 and err.startswith("kiln") and err.strip().count("\n") == 0)
    rc, _, err = run(ref, cur, "--model", "")
    check(f"empty --model: exit {rc} (want 2)", rc == 2)


def main():
    ref, cur = make_data()
    compared = check_report(ref, cur)
    if compared:
        check_html(compared)
    check_errors()
    check_model(train_models(ref))
    finish()


if __name__ == "__main__":
    main()
