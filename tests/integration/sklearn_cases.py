"""sklearn_cases.py KILN SCRATCH — scikit-learn models through the real binary.

Trains every supported estimator (and pipelines of the supported transformers) on small
synthetic data with fixed seeds, saves it with joblib, runs `kiln import` and
`kiln predict --margin`, and compares with scikit-learn itself: probabilities (or predictions)
within 1e-6 absolute (1e-5 for MLPs; 1e-6 relative for large regression values), margins against
decision_function where sklearn has one, and predicted labels exactly. Then the refusals:
unsupported estimators, files that are not pickles, corrupt exporter JSON. Prints one line per
check and a summary; exits 1 when anything failed. Run by test_sklearn.sh.
"""
import os

# Tiny fits: OpenMP and BLAS thread pools only spin against each other (and against the kiln
# processes this script runs in parallel), so training runs on one thread.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import csv  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import joblib  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn import compose, ensemble, impute, linear_model, neural_network, pipeline  # noqa: E402
from sklearn import preprocessing, svm, tree  # noqa: E402

KILN, SCRATCH = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPORTER = os.path.join(ROOT, "python", "kiln_sklearn_export.py")
PYTHON = "/usr/bin/python3"


class Case:
    """One model. `full` cases go through `kiln import model.joblib` (the embedded exporter in a
    Python of its own, about a second each); the others have the same exporter file run in this
    process and `kiln import` read its JSON, which keeps the suite fast."""

    def __init__(self, name, model, X_train, y_train, X_test, tol=1e-6, relative=False, shuffle=False,
                 full=False):
        self.name, self.model, self.X_test = name, model, X_test
        self.tol, self.relative, self.shuffle, self.full = tol, relative, shuffle, full
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings of deliberately tiny fits
            model.fit(X_train, y_train)
        self.is_classifier = hasattr(model, "predict_proba") and hasattr(model, "classes_")


# ---- data -----------------------------------------------------------------------------------


def numeric(seed, n=600, d=6):
    rng = np.random.RandomState(seed)
    return rng.normal(size=(n, d)), rng


def signal(X):
    Z = np.nan_to_num(X)
    return 1.5 * Z[:, 0] - Z[:, 1] + 0.5 * Z[:, 2] * Z[:, 3] + np.sin(Z[:, 4])


def classes(X, k, rng, labels=None):
    s = signal(X) + 0.3 * rng.normal(size=len(X))
    y = np.digitize(s, np.quantile(s, np.linspace(0, 1, k + 1)[1:-1]))
    return y if labels is None else np.asarray(labels)[y]


def target(X, rng, scale=1.0, offset=0.0):
    return scale * (signal(X) + 0.1 * rng.normal(size=len(X))) + offset


def split(X, y, n_test=200):
    return X[:-n_test], y[:-n_test], X[-n_test:]


def with_nans(X, rng, frac=0.1, columns=None):
    X = X.copy()
    cols = range(X.shape[1]) if columns is None else columns
    for j in cols:
        X[rng.rand(len(X)) < frac, j] = np.nan
    return X


def with_categories(X, rng, columns, n_cats=5):
    X = X.copy()
    for j in columns:
        X[:, j] = rng.randint(0, n_cats, len(X))
    return X


def frame(X, names):
    return pd.DataFrame(X, columns=names)


# ---- the cases ------------------------------------------------------------------------------


def linear_cases():
    X, rng = numeric(1)
    y = target(X, rng, scale=1000.0, offset=1e6)
    Xtr, ytr, Xte = split(X, y)
    lm = linear_model
    out = [Case(c.__name__, c(), Xtr, ytr, Xte, relative=True) for c in (
        lm.LinearRegression, lm.Ridge, lm.RidgeCV, lm.Lasso, lm.LassoCV, lm.ElasticNet, lm.ElasticNetCV, lm.Lars,
        lm.LassoLars, lm.BayesianRidge, lm.ARDRegression)]
    y2 = np.c_[y, target(X, rng)]
    out.append(Case("Ridge 2 targets", lm.Ridge(), Xtr, y2[:-200], Xte, relative=True, full=True))
    ys = target(X, rng)
    out.append(Case("HuberRegressor", lm.HuberRegressor(max_iter=200), Xtr, ys[:-200], Xte))
    out.append(Case("SGDRegressor+StandardScaler", pipeline.make_pipeline(
        preprocessing.StandardScaler(), lm.SGDRegressor(random_state=0)), Xtr, ys[:-200], Xte))
    counts = rng.poisson(np.exp(0.3 * signal(X)))
    out.append(Case("PoissonRegressor", lm.PoissonRegressor(), Xtr, counts[:-200], Xte))
    out.append(Case("GammaRegressor", lm.GammaRegressor(), Xtr, counts[:-200] + 0.5, Xte))
    out.append(Case("TweedieRegressor power=0", lm.TweedieRegressor(power=0, link="identity"), Xtr, ys[:-200], Xte))
    return out


def logistic_cases():
    X, rng = numeric(2)
    yb, y3 = classes(X, 2, rng), classes(X, 3, rng, ["low", "mid", "high"])
    Xtr, ybtr, Xte = split(X, yb)
    y3tr = y3[:-200]
    LR = linear_model.LogisticRegression
    return [
        Case("LogisticRegression binary", LR(), Xtr, ybtr, Xte),
        Case("LogisticRegression binary multinomial", LR(multi_class="multinomial"), Xtr, ybtr, Xte),
        Case("LogisticRegression multinomial", LR(), Xtr, y3tr, Xte, full=True),
        Case("LogisticRegression ovr", LR(multi_class="ovr"), Xtr, y3tr, Xte),
        Case("LogisticRegression liblinear", LR(solver="liblinear"), Xtr, y3tr, Xte),
        Case("LogisticRegressionCV", linear_model.LogisticRegressionCV(cv=3), Xtr, y3tr, Xte),
    ]


def tree_cases():
    X, rng = numeric(3)
    yb, y4 = classes(X, 2, rng), classes(X, 4, rng, ["a", "b", "c", "d"])
    yr = target(X, rng)
    Xtr, ybtr, Xte = split(X, yb)
    y4tr, yrtr = y4[:-200], yr[:-200]
    y2tr = np.c_[yr, target(X, rng)][:-200]
    ens = ensemble
    return [
        Case("DecisionTreeClassifier binary", tree.DecisionTreeClassifier(max_depth=6, random_state=0), Xtr, ybtr, Xte),
        Case("DecisionTreeClassifier 4 classes", tree.DecisionTreeClassifier(random_state=0), Xtr, y4tr, Xte),
        Case("DecisionTreeRegressor", tree.DecisionTreeRegressor(max_depth=8, random_state=0), Xtr, yrtr, Xte),
        Case("ExtraTreeRegressor", tree.ExtraTreeRegressor(random_state=0), Xtr, yrtr, Xte),
        Case("RandomForestClassifier binary", ens.RandomForestClassifier(20, max_depth=6, random_state=0), Xtr, ybtr, Xte),
        Case("RandomForestClassifier 4 classes", ens.RandomForestClassifier(15, random_state=0,
             class_weight="balanced"), Xtr, y4tr, Xte, full=True),
        Case("RandomForestRegressor", ens.RandomForestRegressor(15, random_state=0), Xtr, yrtr, Xte),
        Case("RandomForestRegressor 2 outputs", ens.RandomForestRegressor(10, max_depth=6, random_state=0), Xtr, y2tr, Xte),
        Case("ExtraTreesClassifier", ens.ExtraTreesClassifier(15, max_depth=8, random_state=0), Xtr, y4tr, Xte),
        Case("ExtraTreesRegressor", ens.ExtraTreesRegressor(15, max_depth=8, random_state=0), Xtr, yrtr, Xte),
    ]


def boosting_cases():
    X, rng = numeric(4)
    yb, y3 = classes(X, 2, rng), classes(X, 3, rng, [10, 20, 30])
    yr = target(X, rng, scale=50.0)
    Xtr, ybtr, Xte = split(X, yb)
    y3tr, yrtr = y3[:-200], yr[:-200]
    GBC, GBR = ensemble.GradientBoostingClassifier, ensemble.GradientBoostingRegressor
    return [
        Case("GradientBoostingClassifier binary", GBC(n_estimators=40, random_state=0), Xtr, ybtr, Xte, full=True),
        Case("GradientBoostingClassifier 3 classes", GBC(n_estimators=25, max_depth=4, random_state=0), Xtr, y3tr, Xte),
        Case("GradientBoostingClassifier exponential", GBC(loss="exponential", n_estimators=30,
             subsample=0.8, random_state=0), Xtr, ybtr, Xte),
        Case("GradientBoostingRegressor", GBR(n_estimators=50, learning_rate=0.07, random_state=0), Xtr, yrtr, Xte, relative=True),
        Case("GradientBoostingRegressor huber", GBR(loss="huber", n_estimators=30, random_state=0), Xtr, yrtr, Xte, relative=True),
        Case("GradientBoostingRegressor init=zero", GBR(init="zero", n_estimators=30, random_state=0), Xtr, yrtr, Xte, relative=True),
    ]


def hist_cases():
    X, rng = numeric(5)
    X = with_categories(X, rng, [4, 5])
    X = with_nans(X, rng, 0.08)
    yb, y3 = classes(X, 2, rng), classes(X, 3, rng, ["x", "y", "z"])
    yr = target(X, rng, scale=10.0)
    Xtr, ybtr, Xte = split(X, yb)
    y3tr, yrtr = y3[:-200], yr[:-200]
    # unseen categories, negative ones and fractional codes take the paths sklearn gives them
    Xte[:10, 4] = [7, -1, 2.5, -0.5, 4, 9, 0, 1, 3.9, 6]
    Xte[10:20, :] = np.nan
    HGC, HGR = ensemble.HistGradientBoostingClassifier, ensemble.HistGradientBoostingRegressor
    cat = [False, False, False, False, True, True]
    counts = rng.poisson(np.exp(0.3 * signal(X)))[:-200]
    return [
        Case("HistGradientBoostingRegressor NaN", HGR(max_iter=40, random_state=0), Xtr, yrtr, Xte, relative=True),
        Case("HistGradientBoostingRegressor categorical", HGR(max_iter=40, categorical_features=cat,
             random_state=0), Xtr, yrtr, Xte, relative=True),
        Case("HistGradientBoostingClassifier binary cat", HGC(max_iter=40, categorical_features=cat,
             random_state=0), Xtr, ybtr, Xte, full=True),
        Case("HistGradientBoostingClassifier 3 classes", HGC(max_iter=20, categorical_features=[4, 5],
             random_state=0), Xtr, y3tr, Xte),
        Case("HistGradientBoostingRegressor poisson", HGR(loss="poisson", max_iter=30, random_state=0), Xtr, counts, Xte),
        Case("HistGradientBoostingRegressor quantile", HGR(loss="quantile", quantile=0.8, max_iter=20,
             random_state=0), Xtr, yrtr, Xte, relative=True),
    ]


def mlp_cases():
    X, rng = numeric(6)
    yb, y3 = classes(X, 2, rng), classes(X, 3, rng, ["p", "q", "r"])
    yr = target(X, rng)
    Xtr, ybtr, Xte = split(X, yb)
    y3tr, yrtr = y3[:-200], yr[:-200]
    y2tr = np.c_[yr, target(X, rng)][:-200]
    C, R = neural_network.MLPClassifier, neural_network.MLPRegressor
    kw = dict(max_iter=300, random_state=0)
    return [
        Case("MLPClassifier binary relu", C((16, 8), **kw), Xtr, ybtr, Xte, tol=1e-5),
        Case("MLPClassifier 3 classes tanh", C((12,), activation="tanh", **kw), Xtr, y3tr, Xte, tol=1e-5, full=True),
        Case("MLPClassifier logistic", C((10,), activation="logistic", **kw), Xtr, y3tr, Xte, tol=1e-5),
        Case("MLPRegressor identity", R((8,), activation="identity", **kw), Xtr, yrtr, Xte, tol=1e-5),
        Case("MLPRegressor relu 2 outputs", R((16, 16), **kw), Xtr, y2tr, Xte, tol=1e-5),
    ]


def pipeline_cases():
    names = ["age", "income", "score", "ratio", "color", "shape"]
    X, rng = numeric(7)
    X = with_categories(X, rng, [4, 5], n_cats=4)
    X = with_nans(X, rng, 0.1, columns=[0, 1, 4])
    yb, y3 = classes(X, 2, rng), classes(X, 3, rng, ["bronze", "silver", "gold"])
    Xtr, ybtr, Xte = split(X, yb)
    y3tr = y3[:-200]
    Xte[:5, 5] = [9, 4, 9, -2, 4]  # categories never seen in training
    Ftr, Fte = frame(Xtr, names), frame(Xte, names)
    pp, cp, P = preprocessing, compose, pipeline.make_pipeline
    SI = impute.SimpleImputer

    def ct(remainder, drop=None):
        num = P(SI(strategy="median"), pp.StandardScaler())
        cat = P(SI(strategy="most_frequent"), pp.OneHotEncoder(handle_unknown="ignore", drop=drop))
        return cp.ColumnTransformer([("num", num, ["age", "income", "ratio"]), ("cat", cat, ["color", "shape"])],
                                    remainder=remainder)

    Xempty = Xtr.copy()
    Xempty[:, 2] = np.nan  # a column with no values: the mean imputer drops it
    ohe_nan = cp.ColumnTransformer([("oh", pp.OneHotEncoder(handle_unknown="ignore"), [4])], remainder="passthrough")
    return [
        Case("Pipeline imputer+scaler+LogisticRegression", P(SI(), pp.StandardScaler(),
             linear_model.LogisticRegression()), Ftr, ybtr, Fte, shuffle=True),
        Case("ColumnTransformer passthrough+RandomForest", P(ct("passthrough"),
             ensemble.RandomForestClassifier(10, random_state=0)), Ftr, y3tr, Fte, shuffle=True, full=True),
        Case("ColumnTransformer drop+MLPClassifier", P(ct("drop"), neural_network.MLPClassifier(
             (8,), max_iter=200, random_state=0)), Ftr, y3tr, Fte, tol=1e-5),
        Case("ColumnTransformer drop=first+Ridge", P(ct("drop", drop="first"), linear_model.Ridge()),
             Ftr, signal(Xtr), Fte),
        Case("ColumnTransformer+GradientBoosting", P(ct("passthrough", drop="if_binary"),
             ensemble.GradientBoostingClassifier(n_estimators=20, random_state=0)), Ftr, ybtr, Fte),
        Case("ColumnTransformer+HistGradientBoosting cat", P(
             cp.ColumnTransformer([("s", pp.RobustScaler(), [0, 1, 2, 3])], remainder="passthrough"),
             ensemble.HistGradientBoostingClassifier(max_iter=20, categorical_features=[4, 5],
                                                     random_state=0)), Xtr, y3tr, Xte),
        Case("OneHotEncoder NaN category+LogisticRegression", P(ohe_nan, SI(strategy="constant", fill_value=-1.0),
             pp.MaxAbsScaler(), linear_model.LogisticRegression()), Xtr, ybtr, Xte),
        Case("SimpleImputer empty column+Lasso", P(SI(), linear_model.Lasso(alpha=0.01)),
             Xempty, signal(Xtr), Xte),
        Case("nested Pipeline+ExtraTrees", P(P(SI(strategy="most_frequent"), "passthrough"),
             P(pp.StandardScaler(with_mean=False), ensemble.ExtraTreesRegressor(8, max_depth=6,
                                                                            random_state=0))),
             Ftr, signal(Xtr), Fte),
    ]


# ---- running kiln ---------------------------------------------------------------------------


def write_csv(path, X, shuffle):
    df = X if isinstance(X, pd.DataFrame) else frame(X, [f"f{i}" for i in range(X.shape[1])])
    cols = list(df.columns)
    if shuffle:  # columns are matched by name, whatever their order
        cols = cols[::-1]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for row in df[cols].itertuples(index=False):
            w.writerow(["" if np.isnan(v) else repr(float(v)) for v in row])


def kiln(*args, env=None):
    return subprocess.run([KILN, *args], capture_output=True, text=True, env=env)


def load_exporter():
    spec = importlib.util.spec_from_file_location("kiln_sklearn_export", EXPORTER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    problem = module.init()
    if problem:
        raise SystemExit(problem)
    return module


def prepare(i, case, exporter):
    """Saves the model and its test rows; exports the JSON here unless the case is `full`."""
    base = os.path.join(SCRATCH, f"case{i:02d}")
    joblib.dump(case.model, base + ".joblib")
    write_csv(base + ".csv", case.X_test, case.shuffle)
    if case.full:
        return base + ".joblib"
    model, caught = exporter.load(base + ".joblib")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exporter.write(exporter.export(model, caught), base + ".json")
    return base + ".json"


def score(i, source):
    base = os.path.join(SCRATCH, f"case{i:02d}")
    r = kiln("import", source, "-o", base + ".kiln")
    if r.returncode:
        return None, f"import failed: {r.stderr.strip()}"
    r = kiln("predict", base + ".kiln", "--input", base + ".csv", "--output", base + ".out.csv", "--margin")
    if r.returncode:
        return None, f"predict failed: {r.stderr.strip()}"
    with open(base + ".out.csv") as f:
        rows = list(csv.reader(f))
    return rows, ""


def columns(rows, prefix):
    idx = [j for j, h in enumerate(rows[0]) if h == prefix or h.startswith(prefix + "_")]
    return np.array([[float(r[j]) for j in idx] for r in rows[1:]]), [rows[0][j] for j in idx]


def compare(case, rows):
    """Returns (value diff, margin diff or None, problem or "")."""
    m, X = case.model, case.X_test
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if case.is_classifier:
            want = m.predict_proba(X)
            got, heads = columns(rows, "proba")
            if heads != [f"proba_{c}" for c in m.classes_]:
                return 0, None, f"header {heads}"
            labels = [r[0] for r in rows[1:]]
            expect = [str(c) for c in m.predict(X)]
            if labels != expect:
                bad = sum(a != b for a, b in zip(labels, expect))
                return 0, None, f"{bad} predicted labels differ"
        else:
            want = np.asarray(m.predict(X), dtype=np.float64).reshape(len(X), -1)
            got, _ = columns(rows, "prediction")
        if got.shape != want.shape:
            return 0, None, f"shape {got.shape}, expected {want.shape}"
        diff = np.abs(got - want)
        if case.relative:
            diff = diff / np.maximum(1.0, np.abs(want))
        margin = None
        if case.is_classifier and hasattr(m, "decision_function"):
            dec = np.asarray(m.decision_function(X), dtype=np.float64).reshape(len(X), -1)
            mg, _ = columns(rows, "margin")
            margin = float(np.max(np.abs(mg - dec) / np.maximum(1.0, np.abs(dec))))
    return float(np.max(diff)), margin, ""


def run_cases(cases):
    fails = 0
    exporter = load_exporter()
    sources = [prepare(i, case, exporter) for i, case in enumerate(cases)]
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        results = list(pool.map(lambda item: score(*item), enumerate(sources)))
    for case, (rows, problem) in zip(cases, results):
        value, margin = 0.0, None
        if not problem:
            value, margin, problem = compare(case, rows)
        if not problem and (value > case.tol or (margin is not None and margin > case.tol)):
            problem = "outside tolerance"
        extra = f" margin_diff={margin:.2g}" if margin is not None else ""
        kind = "max_rel_diff" if case.relative else "max_abs_diff"
        status = "ok" if not problem else f"FAIL ({problem})"
        path = "pickle" if case.full else "json"
        print(f"sklearn {case.name:<46} {kind}={value:.2g}{extra}  {status}  [{path}]", flush=True)
        fails += bool(problem)
    return fails


# ---- refusals -------------------------------------------------------------------------------


def refused(what, args, needle, out, env=None):
    """kiln must exit 1 with one line naming `needle` and leave no output file."""
    r = kiln(*args, env=env)
    lines = r.stderr.strip().splitlines()
    ok = r.returncode == 1 and len(lines) == 1 and needle in lines[0] and not os.path.exists(out)
    print(f"refuse  {what:<46} {'ok' if ok else 'FAIL'}  ({lines[-1] if lines else 'no message'})")
    return not ok


def export_json(model_path, json_path):
    return subprocess.run([PYTHON, EXPORTER, model_path, json_path], capture_output=True, text=True)


def damaged_documents(doc):
    """Exporter JSON broken in ways a hostile or corrupt file could be."""
    def edit(fn):
        d = json.loads(json.dumps(doc))
        fn(d)
        return json.dumps(d)

    text = json.dumps(doc)
    tree0 = lambda d: d["estimator"]["trees"][0]  # noqa: E731
    return [
        ("truncated JSON", text[: len(text) // 2], "invalid JSON"),
        ("unknown version", edit(lambda d: d.update(kiln_sklearn_export=99)), "version 99"),
        ("child index out of range", edit(lambda d: tree0(d)["left"].__setitem__(0, 10**6)), "trees[0]"),
        ("child pointing back", edit(lambda d: tree0(d)["right"].__setitem__(1, 0) if tree0(d)["right"][1] >= 0
                                     else tree0(d)["right"].__setitem__(0, 0)), "children must follow"),
        ("feature out of range", edit(lambda d: tree0(d)["feature"].__setitem__(0, 99)), "feature"),
        ("value array too short", edit(lambda d: tree0(d)["value"].pop()), "value"),
        ("threshold not a number", edit(lambda d: tree0(d)["threshold"].__setitem__(0, "x")), "threshold"),
        ("one class label", edit(lambda d: d["output"].update(classes=["a"])), "classes"),
        ("outputs mismatch", edit(lambda d: d["output"].update(n_outputs=5)), "n_outputs"),
        ("duplicate feature names", edit(lambda d: d["features"][1].update(name=d["features"][0]["name"])), "twice"),
        ("trailing garbage", text + " {}", "invalid JSON"),
        ("version not a number", edit(lambda d: d.update(kiln_sklearn_export="1")), "version number"),
        ("unknown link", edit(lambda d: d["output"].update(link="tanh")), "output.link"),
        ("negative category word", edit(lambda d: tree0(d).update(cat_sets=[[-1]])), "cat_sets"),
    ]


def refusal_checks():
    fails = 0
    X, rng = numeric(9, n=200)
    y = classes(X, 2, rng)
    joblib.dump(svm.SVC().fit(X, y), os.path.join(SCRATCH, "svc.joblib"))
    out = os.path.join(SCRATCH, "refused.kiln")
    fails += refused("SVC is unsupported", ["import", os.path.join(SCRATCH, "svc.joblib"), "-o", out],
                     "sklearn.svm._classes.SVC", out)
    bad_step = pipeline.make_pipeline(preprocessing.MinMaxScaler(), linear_model.LinearRegression()).fit(X, signal(X))
    joblib.dump(bad_step, os.path.join(SCRATCH, "minmax.joblib"))
    fails += refused("MinMaxScaler in a pipeline", ["import", os.path.join(SCRATCH, "minmax.joblib"), "-o", out],
                     "MinMaxScaler", out)
    text = os.path.join(SCRATCH, "notes.txt")
    with open(text, "w") as f:
        f.write("this is not a model\n")
    fails += refused("text file as --format sklearn", ["import", text, "--format", "sklearn", "-o", out],
                     "cannot load", out)
    fake = os.path.join(SCRATCH, "fake.pkl")
    with open(fake, "wb") as f:
        f.write(b"\x80\x04\x95garbage that is no pickle")
    fails += refused("corrupt pickle (auto-detected)", ["import", fake, "-o", out], "cannot load", out)
    env = dict(os.environ, KILN_PYTHON="/nonexistent/python3")
    fails += refused("KILN_PYTHON that does not exist", ["import", os.path.join(SCRATCH, "svc.joblib"), "-o", out],
                     "/nonexistent/python3", out, env=env)

    # the exporter itself: direct use, exit status 3 for unsupported models
    r = export_json(os.path.join(SCRATCH, "svc.joblib"), os.path.join(SCRATCH, "svc.json"))
    ok = r.returncode == 3 and r.stderr.strip() == "unsupported estimator: sklearn.svm._classes.SVC"
    print(f"refuse  {'exporter exit status 3 for SVC':<46} {'ok' if ok else 'FAIL'}  ({r.stderr.strip()})")
    fails += not ok

    forest = ensemble.RandomForestClassifier(3, max_depth=3, random_state=0).fit(X, y)
    model = os.path.join(SCRATCH, "forest.joblib")
    joblib.dump(forest, model)
    doc_path = os.path.join(SCRATCH, "forest.json")
    r = export_json(model, doc_path)
    with open(doc_path) as f:
        doc = json.load(f)
    good = kiln("import", doc_path, "-o", os.path.join(SCRATCH, "forest.kiln"))
    ok = r.returncode == 0 and good.returncode == 0
    print(f"accept  {'exporter JSON imported directly (auto)':<46} {'ok' if ok else 'FAIL'}")
    fails += not ok
    for what, body, needle in damaged_documents(doc):
        path = os.path.join(SCRATCH, "damaged.json")
        with open(path, "w") as f:
            f.write(body)
        fails += refused(f"JSON: {what}", ["import", path, "--format", "sklearn", "-o", out], needle, out)
    return fails


def main():
    os.makedirs(SCRATCH, exist_ok=True)
    start = time.time()
    cases = linear_cases() + logistic_cases() + tree_cases() + boosting_cases() + hist_cases()
    cases += mlp_cases() + pipeline_cases()
    fails = run_cases(cases)
    fails += refusal_checks()
    print(f"sklearn: {len(cases)} models, {fails} failures, {time.time() - start:.1f} s")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
