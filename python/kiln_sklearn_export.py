"""kiln_sklearn_export.py — writes a fitted scikit-learn model as Kiln's JSON model spec.

Kiln's C code never unpickles anything: `kiln import model.joblib` runs this script (embedded in
the binary) under Debian's Python, and src/model/sklearn.c reads the JSON it writes. The JSON is
a direct rendering of Kiln's model spec (src/model/spec.h); docs/sklearn.md describes it.

    /usr/bin/python3 kiln_sklearn_export.py SRC OUT.json
    /usr/bin/python3 - SRC OUT.json < kiln_sklearn_export.py      (how kiln runs it)

SECURITY: a pickle is a program. Loading SRC runs whatever code it carries, with your rights.
Export only files from a source you trust.

Exit status: 0 written; 3 unsupported estimator (one line on stderr naming it); 2 usage;
1 any other failure (one line on stderr).
"""
import sys

# `python3 - SRC OUT` puts the working directory first on sys.path; a stray numpy.py or
# sklearn.py there must not shadow the real packages, so it goes before anything is imported.
if sys.path and sys.path[0] in ("", "."):
    del sys.path[0]

import base64  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import struct  # noqa: E402
import warnings  # noqa: E402

EXPORT_VERSION = 1
EXIT_FAILURE, EXIT_USAGE, EXIT_UNSUPPORTED = 1, 2, 3

# Filled in by init(): the libraries are imported only once the arguments are checked, so a
# missing scikit-learn becomes a one-line message.
np = sklearn = joblib = None
DummyClassifier = DummyRegressor = Pipeline = None
TRANSFORMERS, ESTIMATORS = {}, {}  # exact class -> handler; subclasses may predict differently


class Unsupported(Exception):
    """A model, or a part of it, that a Kiln spec cannot express exactly."""


def class_name(obj):
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def unsupported(obj, why=""):
    return Unsupported(f"unsupported estimator: {class_name(obj)}" + (f" ({why})" if why else ""))


def one_line(text, limit=400):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---- numbers --------------------------------------------------------------------------------
# JSON has no NaN or infinity: those travel as the strings "nan", "inf" and "-inf". Finite
# doubles are written by repr, which round-trips exactly.


def num(v):
    v = float(v)
    if math.isfinite(v):
        return v
    return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")


def nums(values):
    a = np.asarray(values, dtype=np.float64).ravel()
    if np.isfinite(a).all():
        return a.tolist()
    return [num(v) for v in a.tolist()]


def ints(values):
    return [int(v) for v in np.asarray(values).ravel().tolist()]


# ---- preprocessing: the row layout ----------------------------------------------------------


class Layout:
    """Preprocessing steps built so far, and the row they produce.

    Every step spans the whole row, as in the spec. A transformer working on a segment of the
    row (a ColumnTransformer branch) becomes a step that leaves the other columns alone: fill
    NaN, offset 0 and scale 1, and no categories are exact identities. origin[j] is the input
    feature column j still holds (None once derived, e.g. a one-hot indicator)."""

    def __init__(self, n_features):
        self.steps = []
        self.origin = list(range(n_features))
        self.categorical = {}  # input feature -> n_categories (0 when they are not codes)

    @property
    def width(self):
        return len(self.origin)

    def select(self, index):
        index = [int(i) for i in index]
        origin_in = self.origin
        prev = self.steps[-1] if self.steps else None
        if prev is not None and prev["kind"] == "select":
            # Two gathers in a row compose into one.
            index = [prev["index"][i] for i in index]
            origin_in = prev["_origin_in"]
            self.steps.pop()
        self.origin = [origin_in[i] for i in index]
        if index != list(range(len(origin_in))):
            step = {"kind": "select", "n_in": len(origin_in), "n_out": len(index), "index": index}
            step["_origin_in"] = origin_in
            self.steps.append(step)

    def segment_select(self, start, width, inner):
        """Gathers columns of the segment [start, start+width) by inner index, keeping the rest."""
        rest = list(range(start + width, self.width))
        self.select(list(range(start)) + [start + i for i in inner] + rest)

    def impute(self, start, fill):
        full = [math.nan] * self.width
        full[start : start + len(fill)] = [float(v) for v in fill]
        if all(math.isnan(v) for v in full):
            return
        prev = self.steps[-1] if self.steps else None
        if prev is not None and prev["kind"] == "impute":
            # Two imputers in a row: the first fill wins, the second only sees what is still NaN.
            prev["fill"] = [a if not math.isnan(a) else b for a, b in zip(prev["fill"], full)]
            return
        self.steps.append({"kind": "impute", "n_in": self.width, "n_out": self.width, "fill": full})

    def scale(self, start, offset, scale):
        off = [0.0] * self.width
        sc = [1.0] * self.width
        off[start : start + len(offset)] = [float(v) for v in offset]
        sc[start : start + len(scale)] = [float(v) for v in scale]
        if all(o == 0.0 for o in off) and all(s == 1.0 for s in sc):
            return
        prev = self.steps[-1] if self.steps else None
        if prev is not None and prev["kind"] == "scale":
            # Merging is exact only where at most one of the two touches a column.
            ident_prev = [o == 0.0 and s == 1.0 for o, s in zip(prev["offset"], prev["scale"])]
            ident_new = [o == 0.0 and s == 1.0 for o, s in zip(off, sc)]
            if all(a or b for a, b in zip(ident_prev, ident_new)):
                for j in range(self.width):
                    if not ident_new[j]:
                        prev["offset"][j], prev["scale"][j] = off[j], sc[j]
                return
        self.steps.append({"kind": "scale", "n_in": self.width, "n_out": self.width, "offset": off, "scale": sc})

    def onehot(self, start, categories):
        cats = [[] for _ in range(self.width)]
        cats[start : start + len(categories)] = categories
        origin = []
        for j, c in enumerate(cats):
            if not c:
                origin.append(self.origin[j])
                continue
            f = self.origin[j]
            if f is not None:
                codes = all(not math.isnan(v) for v in c) and sorted(c) == list(range(len(c)))
                self.categorical[f] = len(c) if codes else 0
            origin.extend([None] * len(c))
        n_out = len(origin)
        self.steps.append(
            {"kind": "onehot", "n_in": self.width, "n_out": n_out, "categories": [[num(v) for v in c] for c in cats]}
        )
        self.origin = origin

    def finished_steps(self):
        out = []
        for step in self.steps:
            step = {k: v for k, v in step.items() if not k.startswith("_")}
            for key in ("fill", "offset", "scale"):
                if key in step:
                    step[key] = [num(v) for v in step[key]]
            out.append(step)
        return out


def is_passthrough(t):
    return t is None or (isinstance(t, str) and t == "passthrough")


def is_drop(t):
    return isinstance(t, str) and t == "drop"


def apply_transformer(t, lay, start, width):
    """Appends the steps of transformer t working on columns [start, start+width) of the row;
    returns the width of its output."""
    if is_passthrough(t):
        return width
    handler = TRANSFORMERS.get(type(t))
    if handler is None:
        raise unsupported(t)
    n_in = getattr(t, "n_features_in_", width)
    if n_in != width:
        raise ValueError(f"{class_name(t)} expects {n_in} columns but receives {width}")
    return handler(t, lay, start, width)


def apply_pipeline(p, lay, start, width):
    for _name, step in p.steps:
        width = apply_transformer(step, lay, start, width)
    return width


def column_indices(ct, name):
    # ColumnTransformer resolves names, masks, slices and callables to indices when fitted.
    indices = getattr(ct, "_transformer_to_input_indices", {}).get(name)
    if indices is None:
        raise unsupported(ct, f"cannot resolve the columns of transformer '{name}'")
    return [int(i) for i in indices]


def apply_column_transformer(ct, lay, start, width):
    weights = ct.transformer_weights or {}
    branches = []
    for name, trans, _columns in ct.transformers_:
        if is_drop(trans):
            continue
        idx = column_indices(ct, name)
        if not idx:
            continue
        if weights.get(name, 1) != 1:
            raise unsupported(ct, "transformer_weights")
        branches.append((trans, idx))
    # Gather every branch's input columns side by side, in output order, then let each branch
    # work on its own segment.
    lay.segment_select(start, width, [i for _, idx in branches for i in idx])
    at = start
    for trans, idx in branches:
        at += apply_transformer(trans, lay, at, len(idx))
    return at - start


def apply_standard_scaler(sc, lay, start, width):
    offset = sc.mean_ if sc.with_mean else np.zeros(width)
    scale = sc.scale_ if sc.scale_ is not None else np.ones(width)
    lay.scale(start, offset, scale)
    return width


def apply_robust_scaler(sc, lay, start, width):
    offset = sc.center_ if sc.with_centering else np.zeros(width)
    scale = sc.scale_ if sc.with_scaling else np.ones(width)
    lay.scale(start, offset, scale)
    return width


def apply_maxabs_scaler(sc, lay, start, width):
    lay.scale(start, np.zeros(width), sc.scale_)
    return width


def is_nan_marker(v):
    try:
        return v is None or math.isnan(float(v))
    except (TypeError, ValueError):
        return False


def apply_imputer(imp, lay, start, width):
    if imp.add_indicator:
        raise unsupported(imp, "add_indicator=True")
    if not is_nan_marker(imp.missing_values):
        raise unsupported(imp, "missing_values other than NaN")
    try:
        stats = np.asarray(imp.statistics_, dtype=np.float64)
    except (TypeError, ValueError):
        raise unsupported(imp, "non-numeric fill values") from None
    lay.impute(start, stats)
    # sklearn drops columns whose statistic is NaN (nothing seen in training) unless asked not to.
    if imp.strategy == "constant" or getattr(imp, "keep_empty_features", False):
        return width
    keep = [i for i in range(width) if not math.isnan(stats[i])]
    if len(keep) != width:
        lay.segment_select(start, width, keep)
    return len(keep)


def numeric_categories(enc, cats, column):
    try:
        values = np.asarray(cats, dtype=np.float64)
    except (TypeError, ValueError):
        raise unsupported(enc, f"non-numeric categories in column {column}; encode them as numbers") from None
    if np.isinf(values).any():
        raise unsupported(enc, "infinite category values")
    return values.tolist()


def apply_onehot(enc, lay, start, width):
    if getattr(enc, "_infrequent_enabled", False):
        raise unsupported(enc, "infrequent categories (min_frequency / max_categories)")
    cats = [numeric_categories(enc, c, j) for j, c in enumerate(enc.categories_)]
    lay.onehot(start, cats)
    n_out = sum(len(c) for c in cats)
    drop = getattr(enc, "drop_idx_", None)
    if drop is None:
        return n_out
    keep, at = [], 0
    for j, c in enumerate(cats):
        dropped = drop[j]
        keep.extend(at + i for i in range(len(c)) if dropped is None or i != int(dropped))
        at += len(c)
    lay.segment_select(start, n_out, keep)
    return len(keep)


# ---- estimators -----------------------------------------------------------------------------


def regression_output(n_outputs, link="identity"):
    return {"task": "regression", "n_outputs": int(n_outputs), "link": link, "link_param": 1.0}


def classification_output(classes, n_outputs, link, link_param=1.0, base_score=None):
    out = {
        "task": "classification",
        "n_outputs": int(n_outputs),
        "link": link,
        "link_param": float(link_param),
        "classes": [str(c) for c in classes],
    }
    if base_score is not None:
        out["base_score"] = nums(base_score)
    return out


def linear_block(coef, intercept, n_in):
    coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    if coef.shape[1] != n_in:
        raise ValueError(f"coefficients for {coef.shape[1]} inputs, expected {n_in}")
    k = coef.shape[0]
    intercept = np.broadcast_to(np.asarray(intercept, dtype=np.float64).ravel(), (k,))
    return {"kind": "linear", "n_in": int(n_in), "n_out": int(k), "coef": nums(coef), "intercept": nums(intercept)}


def export_linear_regressor(est, lay):
    block = linear_block(est.coef_, est.intercept_, lay.width)
    return block, regression_output(block["n_out"])


def export_glm(est, lay):
    link = type(est._base_loss.link).__name__
    links = {"IdentityLink": "identity", "LogLink": "exp"}
    if link not in links:
        raise unsupported(est, f"link {link}")
    block = linear_block(est.coef_, est.intercept_, lay.width)
    return block, regression_output(1, links[link])


def export_logistic(est, lay):
    classes = est.classes_
    # The same test predict_proba makes: one-vs-rest normalises independent sigmoids, otherwise
    # a softmax. A binary multinomial model is softmax([-d, d]), i.e. sigmoid(2d).
    ovr = est.multi_class in ("ovr", "warn") or (
        est.multi_class == "auto" and (classes.size <= 2 or est.solver == "liblinear")
    )
    block = linear_block(est.coef_, est.intercept_, lay.width)
    if classes.size == 2:
        return block, classification_output(classes, 1, "sigmoid", 1.0 if ovr else 2.0)
    return block, classification_output(classes, block["n_out"], "ovr" if ovr else "softmax")


def tree_json(tree, values, output, value_scale=None):
    """One sklearn tree_ (children_left == -1 marks a leaf). values: (node_count, leaf_dim)."""
    left = np.asarray(tree.children_left)
    right = np.asarray(tree.children_right)
    leaf = left == -1
    values = np.where(leaf[:, None], values, 0.0)
    if value_scale is not None:
        values = value_scale * values
    return {
        "output": int(output),
        "left": ints(left),
        "right": ints(right),
        "feature": ints(np.where(leaf, -1, tree.feature)),
        "threshold": nums(np.where(leaf, 0.0, tree.threshold)),
        "value": nums(values),
    }


def trees_block(trees, n_in, n_out, leaf_dim, aggregate, f32_inputs):
    return {
        "kind": "trees",
        "n_in": int(n_in),
        "n_out": int(n_out),
        "leaf_dim": int(leaf_dim),
        "aggregate": aggregate,
        "f32_inputs": bool(f32_inputs),
        "f32_accumulate": False,
        "decision": "le",
        "categories_in_set": "left",
        "invalid_category": "default",
        "trees": trees,
    }


def class_probabilities(tree, n_classes):
    # As DecisionTreeClassifier.predict_proba: weighted class counts over their sum, a zero sum
    # left as zeros.
    proba = np.array(tree.value[:, 0, :n_classes], dtype=np.float64)
    normalizer = proba.sum(axis=1)[:, np.newaxis]
    normalizer[normalizer == 0.0] = 1.0
    proba /= normalizer
    return proba


def single_output(est):
    if est.n_outputs_ != 1:
        raise unsupported(est, "multi-output classification")


def export_tree_classifiers(est, lay, trees):
    single_output(est)
    classes = est.classes_
    k = len(classes)
    items = [tree_json(t.tree_, class_probabilities(t.tree_, k), 0) for t in trees]
    # Each tree adds its leaf's probability vector; the mean over trees is predict_proba, so
    # the scores are already probabilities (a binary model keeps both columns).
    block = trees_block(items, lay.width, k, k, "mean", True)
    return block, classification_output(classes, k, "identity")


def export_tree_regressors(est, lay, trees):
    k = est.n_outputs_
    items = [tree_json(t.tree_, np.asarray(t.tree_.value[:, :, 0], dtype=np.float64), 0) for t in trees]
    return trees_block(items, lay.width, k, k, "mean", True), regression_output(k)


def export_decision_tree(est, lay):
    if est.__class__.__name__.endswith("Classifier"):
        return export_tree_classifiers(est, lay, [est])
    return export_tree_regressors(est, lay, [est])


def export_forest(est, lay):
    if est.__class__.__name__.endswith("Classifier"):
        return export_tree_classifiers(est, lay, est.estimators_)
    return export_tree_regressors(est, lay, est.estimators_)


def gb_init_raw(est, n_in):
    init = est.init_
    if not (isinstance(init, str) and init == "zero") and type(init) not in (DummyClassifier, DummyRegressor):
        raise unsupported(est, f"init estimator {class_name(init)}")
    # A dummy init predicts the same raw score for every row: ask sklearn for it.
    return np.asarray(est._raw_predict_init(np.zeros((1, n_in), dtype=np.float32)), dtype=np.float64)[0]


def export_gradient_boosting(est, lay):
    stages = est.estimators_
    lr = float(est.learning_rate)
    # sklearn adds learning_rate * leaf to the raw score: the same double product is stored in
    # the leaf. sklearn starts its sum at the init score, Kiln adds the base score after the
    # trees: the two orders agree to a few ulp.
    items = [
        tree_json(stages[i, k].tree_, np.asarray(stages[i, k].tree_.value[:, 0, :1], dtype=np.float64), k, lr)
        for i in range(stages.shape[0])
        for k in range(stages.shape[1])
    ]
    n_out = stages.shape[1]
    block = trees_block(items, lay.width, n_out, 1, "sum", True)
    base = gb_init_raw(est, lay.width)
    if not est.__class__.__name__.endswith("Classifier"):
        out = regression_output(1)
        out["base_score"] = nums(base)
        return block, out
    loss = type(est._loss).__name__
    if loss == "MultinomialDeviance":
        return block, classification_output(est.classes_, n_out, "softmax", base_score=base)
    if loss in ("BinomialDeviance", "ExponentialLoss"):
        param = 2.0 if loss == "ExponentialLoss" else 1.0  # exponential: p = expit(2 * raw)
        return block, classification_output(est.classes_, 1, "sigmoid", param, base_score=base)
    raise unsupported(est, f"loss {loss}")


def hgb_tree_json(pred, output, known, f_idx_map):
    nodes = pred.nodes
    n = len(nodes)
    leaf = nodes["is_leaf"].astype(bool)
    categorical = nodes["is_categorical"].astype(bool) & ~leaf
    cat_sets, cat_index = [], [-1] * n
    for i in np.flatnonzero(categorical).tolist():
        words = np.array(pred.raw_left_cat_bitsets[nodes["bitset_idx"][i]], dtype=np.uint32)
        if nodes["missing_go_to_left"][i]:
            # sklearn sends a category it never saw in training the missing-value way: when
            # that is left, unknown categories join the left set.
            words = words | ~np.array(known[f_idx_map[nodes["feature_idx"][i]]], dtype=np.uint32)
        cat_index[i] = len(cat_sets)
        cat_sets.append(ints(words))
    return {
        "output": int(output),
        "left": ints(np.where(leaf, -1, nodes["left"])),
        "right": ints(np.where(leaf, -1, nodes["right"])),
        "feature": ints(np.where(leaf, -1, nodes["feature_idx"])),
        "threshold": nums(np.where(leaf | categorical, 0.0, nodes["num_threshold"])),
        "default_left": ints(np.where(leaf, 0, nodes["missing_go_to_left"])),
        "value": nums(np.where(leaf, nodes["value"], 0.0)),
        "cat_set": cat_index,
        "cat_sets": cat_sets,
    }


HGB_LINKS = {"IdentityLink": "identity", "LogLink": "exp", "LogitLink": "sigmoid", "MultinomialLogit": "softmax"}


def mark_hgb_categories(est, lay):
    mask = getattr(est, "is_categorical_", None)
    if mask is None:
        return
    thresholds = est._bin_mapper.bin_thresholds_
    for j in np.flatnonzero(mask).tolist():
        f = lay.origin[j]
        if f is not None:
            known = np.asarray(thresholds[j])
            lay.categorical[f] = int(known.max()) + 1 if known.size else 0


def export_hist_gradient_boosting(est, lay):
    known, f_idx_map = est._bin_mapper.make_known_categories_bitsets()
    items = [
        hgb_tree_json(pred, k, known, f_idx_map) for iteration in est._predictors for k, pred in enumerate(iteration)
    ]
    n_out = int(est.n_trees_per_iteration_)
    # Numeric splits compare the double input with x <= t, in double precision.
    block = trees_block(items, lay.width, n_out, 1, "sum", False)
    mark_hgb_categories(est, lay)
    link = type(est._loss.link).__name__
    if link not in HGB_LINKS:
        raise unsupported(est, f"link {link}")
    base = np.asarray(est._baseline_prediction, dtype=np.float64).ravel()
    if not est.__class__.__name__.endswith("Classifier"):
        out = regression_output(n_out, HGB_LINKS[link])
        out["base_score"] = nums(base)
        return block, out
    return block, classification_output(est.classes_, n_out, HGB_LINKS[link], base_score=base)


MLP_ACTIVATIONS = {"identity": "identity", "relu": "relu", "tanh": "tanh", "logistic": "logistic"}


def export_mlp(est, lay):
    if est.activation not in MLP_ACTIVATIONS:
        raise unsupported(est, f"activation {est.activation}")
    layers = []
    last = len(est.coefs_) - 1
    for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        w = np.asarray(w, dtype=np.float64)
        layers.append(
            {
                "n_in": int(w.shape[0]),
                "n_out": int(w.shape[1]),
                # the output layer's activation is the spec's link, applied after it
                "activation": "identity" if i == last else MLP_ACTIVATIONS[est.activation],
                "weight": nums(w),
                "bias": nums(b),
            }
        )
    block = {"kind": "mlp", "n_in": int(lay.width), "layers": layers}
    n_out = int(est.coefs_[-1].shape[1])
    if not est.__class__.__name__.endswith("Classifier"):
        return block, regression_output(n_out)
    if getattr(est._label_binarizer, "y_type_", "") == "multilabel-indicator":
        raise unsupported(est, "multilabel classification")
    if est.out_activation_ == "softmax":
        return block, classification_output(est.classes_, n_out, "softmax")
    if est.out_activation_ == "logistic" and n_out == 1:
        return block, classification_output(est.classes_, 1, "sigmoid")
    raise unsupported(est, f"output activation {est.out_activation_}")


# ---- the document ---------------------------------------------------------------------------


def flatten(est):
    """Splits a (possibly nested) Pipeline into its transformers and final estimator."""
    if type(est) is not Pipeline:
        return [], est
    steps = [s for _, s in est.steps]
    head, final = steps[:-1], steps[-1]
    if is_passthrough(final):
        raise unsupported(est, "the pipeline ends without an estimator")
    more, final = flatten(final)
    return head + more, final


def features_json(est, lay, n_features):
    names = getattr(est, "feature_names_in_", None)
    names = [str(n) for n in names] if names is not None else [f"f{i}" for i in range(n_features)]
    out = []
    for i, name in enumerate(names):
        f = {"name": name, "type": "numeric", "min": "nan", "max": "nan"}
        if i in lay.categorical:
            f["type"] = "categorical"
            f["n_categories"] = lay.categorical[i]
        out.append(f)
    return out


def export(model, load_warnings):
    transformers, final = flatten(model)
    handler = ESTIMATORS.get(type(final))
    if handler is None:
        raise unsupported(final)
    n_features = getattr(model, "n_features_in_", None)
    if n_features is None:
        raise ValueError("the model does not record its number of input features (is it fitted?)")
    lay = Layout(int(n_features))
    for t in transformers:
        apply_transformer(t, lay, 0, lay.width)
    if getattr(final, "n_features_in_", lay.width) != lay.width:
        raise ValueError(f"{class_name(final)} expects {final.n_features_in_} inputs, preprocessing gives {lay.width}")
    estimator, output = handler(final, lay)
    meta = {
        "source_framework": "scikit-learn",
        "source_version": sklearn.__version__,
        "estimator": class_name(model),
        "final_estimator": class_name(final),
        "exporter": f"kiln_sklearn_export {EXPORT_VERSION}",
        "python_version": platform.python_version(),
        "numpy_version": np.__version__,
    }
    if transformers:
        meta["pipeline"] = " > ".join(type(t).__name__ for t in transformers + [final] if not is_passthrough(t))
    if load_warnings:
        meta["export_warnings"] = one_line(" | ".join(load_warnings), 1000)
    return {
        "kiln_sklearn_export": EXPORT_VERSION,
        "meta": meta,
        "features": features_json(model, lay, int(n_features)),
        "steps": lay.finished_steps(),
        "estimator": estimator,
        "output": output,
    }


def load(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = joblib.load(path)
    return model, [one_line(f"{w.category.__name__}: {w.message}", 300) for w in caught]


PACK_MIN = 64  # shorter numeric lists stay plain JSON
_NONFINITE = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


def packed(values):
    """A list of numbers as "i32:<base64>" or "f64:<base64>" (little-endian elements), or None
    when the list is short or holds anything else. Saves the importer parsing one JSON number per
    element (json-c needs ~20 bytes of memory per byte of numeric JSON)."""
    if len(values) < PACK_MIN:
        return None
    if all(type(v) is int and -(2**31) <= v < 2**31 for v in values):
        return "i32:" + base64.b64encode(struct.pack("<%di" % len(values), *values)).decode("ascii")
    out = []
    for v in values:
        if type(v) is float or (type(v) is int and -(2**53) <= v <= 2**53):  # exact as doubles
            out.append(float(v))
        elif type(v) is str and v in _NONFINITE:
            out.append(_NONFINITE[v])
        else:
            return None
    return "f64:" + base64.b64encode(struct.pack("<%dd" % len(out), *out)).decode("ascii")


def pack(doc):
    """Replaces, anywhere in doc, each list of PACK_MIN or more numbers with its packed string."""
    if isinstance(doc, dict):
        return {k: pack(v) for k, v in doc.items()}
    if isinstance(doc, list):
        p = packed(doc)
        return p if p is not None else [pack(v) for v in doc]
    return doc


def write(doc, path):
    tmp = path + ".tmp"
    doc = pack(doc)
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, allow_nan=False, separators=(",", ":"))
    os.replace(tmp, path)


def describe(e):
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def fail(code, message):
    sys.stderr.write(one_line(message) + "\n")
    sys.exit(code)


def build_tables():
    from sklearn import compose, dummy, ensemble, impute, linear_model, neural_network
    from sklearn import pipeline, preprocessing, tree

    global DummyClassifier, DummyRegressor, Pipeline, TRANSFORMERS, ESTIMATORS
    DummyClassifier, DummyRegressor = dummy.DummyClassifier, dummy.DummyRegressor
    Pipeline = pipeline.Pipeline
    TRANSFORMERS = {
        pipeline.Pipeline: apply_pipeline,
        compose.ColumnTransformer: apply_column_transformer,
        preprocessing.StandardScaler: apply_standard_scaler,
        preprocessing.RobustScaler: apply_robust_scaler,
        preprocessing.MaxAbsScaler: apply_maxabs_scaler,
        preprocessing.OneHotEncoder: apply_onehot,
        impute.SimpleImputer: apply_imputer,
    }
    lm = linear_model
    ESTIMATORS = {c: export_linear_regressor for c in (
        lm.LinearRegression, lm.Ridge, lm.RidgeCV, lm.Lasso, lm.LassoCV, lm.ElasticNet,
        lm.ElasticNetCV, lm.Lars, lm.LassoLars, lm.BayesianRidge, lm.ARDRegression,
        lm.HuberRegressor, lm.SGDRegressor)}
    ESTIMATORS.update({c: export_glm for c in (lm.PoissonRegressor, lm.GammaRegressor, lm.TweedieRegressor)})
    ESTIMATORS.update({lm.LogisticRegression: export_logistic, lm.LogisticRegressionCV: export_logistic})
    ESTIMATORS.update({c: export_decision_tree for c in (
        tree.DecisionTreeClassifier, tree.DecisionTreeRegressor, tree.ExtraTreeClassifier, tree.ExtraTreeRegressor)})
    ESTIMATORS.update({c: export_forest for c in (
        ensemble.RandomForestClassifier, ensemble.RandomForestRegressor,
        ensemble.ExtraTreesClassifier, ensemble.ExtraTreesRegressor)})
    ESTIMATORS.update({c: export_gradient_boosting for c in (
        ensemble.GradientBoostingClassifier, ensemble.GradientBoostingRegressor)})
    ESTIMATORS.update({c: export_hist_gradient_boosting for c in (
        ensemble.HistGradientBoostingClassifier, ensemble.HistGradientBoostingRegressor)})
    ESTIMATORS.update({c: export_mlp for c in (neural_network.MLPClassifier, neural_network.MLPRegressor)})


def init():
    """Imports numpy, scikit-learn and joblib; returns None, or why they are not available."""
    global np, sklearn, joblib
    try:
        import joblib
        import numpy as np
        import sklearn
    except ImportError as e:
        return f"scikit-learn is not available to {sys.executable}: {e} (set KILN_PYTHON)"
    build_tables()
    return None


def main(argv):
    if len(argv) != 3 or argv[1] in ("-h", "--help"):
        sys.stderr.write("usage: kiln_sklearn_export.py SRC OUT.json  (SRC: a trusted joblib/pickle file)\n")
        return EXIT_USAGE
    src, out = argv[1], argv[2]
    problem = init()
    if problem:
        fail(EXIT_FAILURE, problem)
    try:
        model, load_warnings = load(src)
    except Exception as e:  # a non-pickle file can raise nearly anything
        fail(EXIT_FAILURE, f"cannot load {src} as a joblib/pickle file: {describe(e)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FutureWarnings from private attributes are noise here
            doc = export(model, load_warnings)
    except Unsupported as e:
        fail(EXIT_UNSUPPORTED, str(e))
    except Exception as e:
        fail(EXIT_FAILURE, f"cannot export {class_name(model)}: {describe(e)}")
    try:
        write(doc, out)
    except (OSError, ValueError) as e:
        fail(EXIT_FAILURE, f"cannot write {out}: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
