#!/usr/bin/python3
"""xgboost_cases.py KILN SCRATCH — Kiln's XGBoost importer against XGBoost itself.

Trains small XGBoost models of every kind Kiln imports (fixed seeds, synthetic data), saves
each with save_model("m.json"), predicts with XGBoost, then runs `kiln import` and
`kiln predict --margin` on a CSV of the same rows (missing values and values sitting exactly on
split thresholds included) and compares: probabilities / values and margins must agree within
1e-6 (relative to the magnitude for values above 1), and tree models' margins must equal
XGBoost's float32 margins exactly. Prints one line per case with the maximum difference, then
negative cases (damaged files must fail with exit 1, a one-line error and no
output file), then a summary. Exits 1 if anything failed.

Run it with Debian's /usr/bin/python3 (python3-xgboost 1.7.4, python3-pandas).
"""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import xgboost as xgb

KILN, DIR = os.path.abspath(sys.argv[1]), sys.argv[2]
TOL = 1e-6
failures, passes = [], []


def say(name, ok, detail):
    print(f"xgboost {name:<38} {detail}  {'ok' if ok else 'FAIL'}", flush=True)
    (passes if ok else failures).append(name)


# ---- data -------------------------------------------------------------------------------------

def features(seed, n, f, missing=0.1):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, f) * np.linspace(1, 5, f) + np.arange(f)
    X[rng.rand(n, f) < missing] = np.nan
    return X


def edge_rows(model_json, X, n_features):
    """Rows whose values sit exactly on float32 split thresholds, one double below (which rounds
    up to the threshold in float32, so it must go right), and one float32 below (goes left)."""
    booster = json.load(open(model_json))["learner"]["gradient_booster"]
    trees = booster.get("gbtree", booster)["model"].get("trees", [])
    base = np.nan_to_num(X[:1].copy())
    rows = []
    for t in trees[:4]:
        for node, left in enumerate(t["left_children"]):
            if left == -1 or t.get("split_type", [0] * (node + 1))[node] != 0:
                continue
            f, th = t["split_indices"][node], np.float32(t["split_conditions"][node])
            for v in (float(th), np.nextafter(float(th), -np.inf),
                      float(np.nextafter(th, np.float32(-np.inf)))):
                r = base.copy()
                r[0, f] = v
                rows.append(r)
    return np.vstack(rows) if rows else np.zeros((0, n_features))


def write_csv(path, names, X, categorical=()):
    with open(path, "w") as out:
        out.write(",".join(names) + "\n")
        for i, row in enumerate(X):
            cells = []
            for j, v in enumerate(row):
                if np.isnan(v):
                    cells.append("" if (i + j) % 2 else "NaN")
                elif j in categorical:
                    cells.append(repr(float(v)) if v != int(v) else str(int(v)))
                else:
                    cells.append(repr(float(v)))
            out.write(",".join(cells) + "\n")


# ---- running kiln -----------------------------------------------------------------------------

def kiln(*args):
    return subprocess.run([KILN, *args], capture_output=True, text=True)


def kiln_predict(name, model_json, names, X, categorical=()):
    """Imports and scores; returns (probabilities or values, margins, predicted labels)."""
    pkg, inp, outp = (os.path.join(DIR, name + ext) for ext in (".kiln", ".csv", ".out.csv"))
    r = kiln("import", model_json, "-o", pkg)
    if r.returncode != 0:
        raise RuntimeError("kiln import failed: " + r.stderr.strip())
    write_csv(inp, names, X, categorical)
    r = kiln("predict", pkg, "--input", inp, "--output", outp, "--margin")
    if r.returncode != 0:
        raise RuntimeError("kiln predict failed: " + r.stderr.strip())
    with open(outp) as f:
        rows = list(csv.reader(f))
    head, body = rows[0], rows[1:]
    col = lambda prefix: [i for i, h in enumerate(head) if h.startswith(prefix)]
    num = lambda idx: np.array([[float(r[i]) for i in idx] for r in body])
    probs = col("proba_")
    values = num(probs) if probs else num([head.index("prediction")])
    return values, num(col("margin_")), [r[head.index("prediction")] for r in body]


def scaled_diff(got, want):
    got, want = np.asarray(got, float), np.asarray(want, float).reshape(np.shape(got))
    both_nan = np.isnan(got) & np.isnan(want)
    diff = np.where(both_nan, 0.0, np.abs(got - want))
    return float(np.max(diff, initial=0.0)), float(np.max(diff / np.maximum(1.0, np.abs(want)),
                                                          initial=0.0))


def check(name, model_json, names, X, want_values, want_margins, want_labels=None,
          categorical=(), exact_margins=True):
    """Tree models must reproduce XGBoost's float32 margins bit for bit (same thresholds, same
    float32 sums in the same order); values differ only by the link computed in double."""
    try:
        values, margins, labels = kiln_predict(name, model_json, names, X, categorical)
    except Exception as e:  # noqa: BLE001 — any failure is this case's failure
        say(name, False, str(e)[:200])
        return
    abs_v, rel_v = scaled_diff(values, want_values)
    abs_m, rel_m = scaled_diff(margins, want_margins)
    ok = rel_v <= TOL and rel_m <= TOL and len(values) == len(X)
    if exact_margins:
        ok = ok and abs_m == 0.0
    detail = f"max_abs_diff={max(abs_v, abs_m):.1e} (values {abs_v:.1e}, margins {abs_m:.1e})"
    if want_labels is not None:
        wrong = sum(str(a) != str(b) for a, b in zip(labels, want_labels))
        ok = ok and wrong == 0
        detail += f" labels_wrong={wrong}"
    say(name, ok, detail)


# ---- cases ------------------------------------------------------------------------------------

def save(model, name):
    path = os.path.join(DIR, name + ".json")
    model.save_model(path)
    return path


def sk_classifier(name, model, X, y, Xp, names=None):
    frame = (lambda A: pd.DataFrame(A, columns=names)) if names else (lambda A: A)
    model.fit(frame(X), y)
    path = save(model, name)
    Xp = np.vstack([Xp, edge_rows(path, X, X.shape[1])])
    proba = model.predict_proba(frame(Xp))
    margin = model.predict(frame(Xp), output_margin=True)
    labels = model.predict(frame(Xp))
    check(name, path, names or [f"f{i}" for i in range(X.shape[1])], Xp, proba, margin, labels)


def sk_regressor(name, model, X, y, Xp, names=None, fit_args=None, exact_margins=True):
    frame = (lambda A: pd.DataFrame(A, columns=names)) if names else (lambda A: A)
    model.fit(frame(X), y, **(fit_args or {}))
    path = save(model, name)
    Xp = np.vstack([Xp, edge_rows(path, X, X.shape[1])])
    check(name, path, names or [f"f{i}" for i in range(X.shape[1])], Xp,
          model.predict(frame(Xp)), model.predict(frame(Xp), output_margin=True),
          exact_margins=exact_margins)


def booster_case(name, params, X, y, Xp, rounds=15, transform=None, dtrain=None):
    booster = xgb.train(params, dtrain or xgb.DMatrix(X, y), rounds)
    path = save(booster, name)
    Xp = np.vstack([Xp, edge_rows(path, X, X.shape[1])])
    dm = xgb.DMatrix(Xp)
    margins = booster.predict(dm, output_margin=True)
    values = transform(margins) if transform else booster.predict(dm)
    labels = np.argmax(margins, axis=1) if margins.ndim == 2 else None
    check(name, path, [f"f{i}" for i in range(X.shape[1])], Xp, values, margins, labels)


def softmax(m):
    e = np.exp(m.astype(float) - m.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def classification_cases():
    X, Xp = features(1, 400, 6), features(2, 150, 6)
    y = ((np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 2]) * 0.5 > 1.5)).astype(int)
    names = ["age", "bmi", "blood pressure", "glucose", "insulin", "skin"]
    sk_classifier("binary:logistic names", xgb.XGBClassifier(n_estimators=30, max_depth=4,
                                                             random_state=1), X, y, Xp, names)
    sk_classifier("binary:logistic no-names", xgb.XGBClassifier(n_estimators=20, max_depth=3,
                                                                random_state=1), X, y, Xp)
    y4 = np.digitize(np.nan_to_num(X[:, 1]) + np.nan_to_num(X[:, 3]), [1, 3, 5])
    sk_classifier("multi:softprob 4 classes", xgb.XGBClassifier(n_estimators=15, max_depth=3,
                                                                random_state=1), X, y4, Xp, names)
    booster_case("multi:softmax 3 classes",
                 {"objective": "multi:softmax", "num_class": 3, "max_depth": 3, "base_score": 0.2},
                 X, np.minimum(y4, 2), Xp, transform=softmax)
    sk_classifier("multi:softprob random forest", xgb.XGBRFClassifier(n_estimators=4, max_depth=4,
                                                                      random_state=1), X, y4, Xp)
    # early stopping: the scikit-learn wrapper predicts with rounds 0..best_iteration only
    rng = np.random.RandomState(3)
    noisy = np.where(rng.rand(len(y)) < 0.3, 1 - y, y)
    model = xgb.XGBClassifier(n_estimators=300, max_depth=5, learning_rate=0.3,
                              early_stopping_rounds=3, random_state=1)
    model.fit(X[:300], noisy[:300], eval_set=[(X[300:], noisy[300:])], verbose=False)
    assert model.best_iteration + 1 < model.get_booster().num_boosted_rounds()
    path = save(model, "early stopping")
    check("binary:logistic early stopping", path, [f"f{i}" for i in range(6)], Xp,
          model.predict_proba(Xp), model.predict(Xp, output_margin=True), model.predict(Xp))


def regression_cases():
    X, Xp = features(4, 400, 5), features(5, 150, 5)
    z = np.nan_to_num(X[:, 0]) - 0.5 * np.nan_to_num(X[:, 1]) + 0.2 * np.nan_to_num(X[:, 4])
    rng = np.random.RandomState(6)
    y = 1000 * z + 5000 + rng.randn(len(z)) * 10
    count = rng.poisson(np.exp(0.3 * np.clip(z, -3, 3)))
    positive = np.exp(0.3 * np.clip(z, -3, 3)) * rng.gamma(2.0, 0.5, len(z))
    p = 1 / (1 + np.exp(-z))
    names = ["x0", "x1", "x2", "x3", "x4"]
    reg = lambda **kw: xgb.XGBRegressor(n_estimators=25, max_depth=4, random_state=1, **kw)
    sk_regressor("reg:squarederror", reg(), X, y, Xp, names)
    sk_regressor("reg:logistic", reg(objective="reg:logistic"), X, p, Xp)
    sk_regressor("binary:logitraw", reg(objective="binary:logitraw", base_score=0.3), X,
                 (z > 0).astype(int), Xp)
    sk_regressor("count:poisson", reg(objective="count:poisson", base_score=2.0), X, count, Xp)
    sk_regressor("reg:gamma", reg(objective="reg:gamma"), X, positive, Xp)
    sk_regressor("reg:tweedie", reg(objective="reg:tweedie"), X, count, Xp)
    sk_regressor("reg:absoluteerror", reg(objective="reg:absoluteerror"), X, y, Xp)
    sk_regressor("reg:pseudohubererror", reg(objective="reg:pseudohubererror"), X, z, Xp)
    sk_regressor("dart", reg(booster="dart", rate_drop=0.3, skip_drop=0.0), X, y, Xp, names)
    sk_regressor("random forest (num_parallel_tree)",
                 reg(num_parallel_tree=4, subsample=0.7, colsample_bynode=0.7), X, y, Xp)
    # XGBoost sums the linear model in float32 and Kiln in double: close, not identical
    sk_regressor("gblinear", xgb.XGBRegressor(booster="gblinear", n_estimators=20), X, z, Xp,
                 exact_margins=False)
    groups = np.full(40, 10)
    rank = np.clip(np.round(z + 2), 0, 4)
    sk_regressor("rank:pairwise", xgb.XGBRanker(n_estimators=20, max_depth=3,
                                                objective="rank:pairwise"),
                 X, rank, Xp, fit_args={"group": groups})
    dm = xgb.DMatrix(X)
    dm.set_float_info("label_lower_bound", positive)
    dm.set_float_info("label_upper_bound", np.where(np.arange(len(z)) % 3, positive, np.inf))
    booster_case("survival:aft", {"objective": "survival:aft", "max_depth": 3}, X, None, Xp,
                 dtrain=dm)


def categorical_case():
    rng = np.random.RandomState(7)
    n = 500
    colour = rng.randint(0, 3, n)     # few categories: one-hot splits
    city = rng.randint(0, 40, n)      # many categories: partition splits
    x = rng.randn(n)
    y = ((city % 3 == 0) ^ (colour == 1) | (x > 1.2)).astype(int)
    frame = pd.DataFrame({"colour": pd.Categorical(colour, categories=range(3)),
                          "city": pd.Categorical(city, categories=range(40)), "x": x})
    frame.loc[rng.rand(n) < 0.05, "city"] = np.nan
    model = xgb.XGBClassifier(n_estimators=20, max_depth=4, tree_method="hist",
                              enable_categorical=True, max_cat_to_onehot=4, random_state=1)
    model.fit(frame, y)
    path = save(model, "categorical")
    # category codes as Kiln reads them, plus codes XGBoost treats as invalid or unseen
    codes = np.column_stack([frame["colour"].cat.codes, frame["city"].cat.codes, x]).astype(float)
    codes[codes[:, 1] < 0, 1] = np.nan
    odd = [[0, -1, 0.5], [1, 40, 2.0], [2, 1e6, -1], [1, 2.5, 0], [np.nan, 3, 0], [0, 16777215, 1],
           [3, 5, 0.1], [-0.5, 0, 0]]
    Xp = np.vstack([codes[:200], odd])
    dm = xgb.DMatrix(Xp, feature_names=["colour", "city", "x"], feature_types=["c", "c", "q"],
                     enable_categorical=True)
    booster = model.get_booster()
    margin = booster.predict(dm, output_margin=True)
    p1 = booster.predict(dm)
    check("categorical (one-hot and partition)", path, ["colour", "city", "x"], Xp,
          np.column_stack([1 - p1, p1]), margin, (p1 > 0.5).astype(int), categorical=(0, 1))


# ---- negative cases ---------------------------------------------------------------------------

def refused(name, path, *extra):
    out = os.path.join(DIR, "refused.kiln")
    if os.path.exists(out):
        os.remove(out)
    r = kiln("import", path, "-o", out, *extra)
    lines = r.stderr.strip().splitlines()
    ok = r.returncode == 1 and len(lines) == 1 and not os.path.exists(out)
    say("refuses " + name, ok, f"exit={r.returncode} error: {lines[0] if lines else '(none)'}")


def negative_cases():
    X, y = features(8, 100, 3), np.arange(100) % 2
    good = save(xgb.XGBClassifier(n_estimators=3, max_depth=2).fit(X, y), "good")
    text = open(good).read()
    doc = json.loads(text)

    def variant(name, edit):
        d = json.loads(text)
        edit(d["learner"]["gradient_booster"]["model"]["trees"][0], d)
        path = os.path.join(DIR, name + ".json")
        with open(path, "w") as f:
            json.dump(d, f)
        return path

    truncated = os.path.join(DIR, "truncated.json")
    with open(truncated, "w") as f:
        f.write(text[: len(text) * 3 // 5])
    refused("truncated JSON", truncated)
    refused("child index out of range",
            variant("child", lambda t, d: t["left_children"].__setitem__(0, 10**6)))
    refused("cyclic tree", variant("cycle", lambda t, d: (t["left_children"].__setitem__(1, 0),
                                                          t["right_children"].__setitem__(1, 1))))
    refused("feature index >= num_feature",
            variant("feature", lambda t, d: t["split_indices"].__setitem__(0, 3)))
    refused("binary:hinge objective",
            variant("hinge", lambda t, d: d["learner"]["objective"].__setitem__("name",
                                                                                 "binary:hinge")))
    refused("scikit-learn model with missing=0",
            save(xgb.XGBClassifier(n_estimators=2, missing=0.0).fit(X, y), "missing0"))
    garbage = os.path.join(DIR, "garbage.json")
    with open(garbage, "w") as f:
        f.write("this is not a model\n")
    refused("non-JSON file", garbage, "--format", "xgboost")
    assert doc["learner"]["objective"]["name"] == "binary:logistic"


def main():
    os.makedirs(DIR, exist_ok=True)
    print(f"xgboost {xgb.__version__}, kiln {KILN}")
    classification_cases()
    regression_cases()
    categorical_case()
    negative_cases()
    print(f"xgboost: {len(passes)} passed, {len(failures)} failed"
          + (" (" + ", ".join(failures) + ")" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
