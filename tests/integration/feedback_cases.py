#!/usr/bin/env python3
"""feedback_cases.py DRIVER SCRATCH — called by test_feedback.sh.

Generates seeded (prediction, truth) pairs with numpy, runs them through the C driver
(kfeedback_remember + kfeedback_label + kfeedback_metrics) and compares every metric with
scikit-learn 1.2 on the same pairs: accuracy_score, precision/recall/f1_score (binary, or
average="macro"), log_loss(labels=range(K)), roc_auc_score (binary on p[:,1], multiclass
"ovr" macro), mean_absolute_error and sqrt(mean_squared_error). Tolerance 1e-9; the largest
difference is printed. Then POST /feedback bodies through kfeedback_serve: status and counts.
Prints a FAIL line per failure; exit status = failures."""
import json
import math
import os
import subprocess
import sys

import numpy as np
from sklearn import metrics as skm

DRIVER = sys.argv[1]
TOL = 1e-9
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../lib"))
from kilntest import FAILS, fail, finish  # noqa: E402
max_diff = 0.0


def run_metrics(k, max_pairs, preds, truth):
    lines = [str(len(truth))]
    for p, y in zip(preds, truth):
        vals = p if k else [p]
        lines.append(" ".join(repr(float(v)) for v in vals) + " " + repr(float(y)))
    out = subprocess.run([DRIVER, "metrics", str(k), str(max_pairs)], input="\n".join(lines) + "\n",
                         capture_output=True, text=True)
    if out.returncode != 0:
        fail(f"driver failed ({out.returncode}): {out.stderr[-2000:]}")
        return None
    return json.loads(out.stdout)


def compare(name, got, want):
    global max_diff
    for key, w in want.items():
        g = got[key]
        d = abs(g - w) if not (math.isnan(g) and math.isnan(w)) else 0.0
        if math.isnan(d) or d > TOL * max(1.0, abs(w)):
            fail(f"{name}: {key} = {g!r}, scikit-learn {w!r}")
        elif not math.isnan(d):
            max_diff = max(max_diff, d)


def classifier_case(name, k, preds, truth, max_pairs=0):
    got = run_metrics(k, max_pairs, preds, truth)
    if got is None:
        return
    if max_pairs and len(truth) > max_pairs:
        preds, truth = preds[-max_pairs:], truth[-max_pairs:]
    y = np.asarray(truth, dtype=int)
    p = np.asarray(preds, dtype=float)
    yhat = p.argmax(axis=1)
    avg = "binary" if k == 2 else "macro"
    want = {
        "accuracy": skm.accuracy_score(y, yhat),
        "precision": skm.precision_score(y, yhat, average=avg, zero_division=0),
        "recall": skm.recall_score(y, yhat, average=avg, zero_division=0),
        "f1": skm.f1_score(y, yhat, average=avg, zero_division=0),
        "log_loss": skm.log_loss(y, p, labels=list(range(k))),
    }
    if k == 2:
        want["roc_auc"] = skm.roc_auc_score(y, p[:, 1])
    else:
        want["roc_auc"] = skm.roc_auc_score(y, p, multi_class="ovr", average="macro",
                                            labels=list(range(k)))
    if got["n"] != len(truth):
        fail(f"{name}: window holds {got['n']} pairs, expected {len(truth)}")
    compare(name, got, want)
    if not (math.isnan(got["mae"]) and math.isnan(got["rmse"])):
        fail(f"{name}: a classifier has MAE/RMSE")


def regression_case(name, preds, truth):
    got = run_metrics(0, 0, preds, truth)
    if got is None:
        return
    want = {"mae": skm.mean_absolute_error(truth, preds),
            "rmse": math.sqrt(skm.mean_squared_error(truth, preds))}
    compare(name, got, want)


def binary(seed, n, decimals=None, extremes=False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p1 = np.clip(0.5 + (y - 0.5) * 0.4 + rng.normal(0, 0.25, n), 0, 1)
    if decimals is not None:
        p1 = np.round(p1, decimals)  # many ties
    if extremes:
        p1[:20] = 1.0 - y[:20]  # confidently wrong: log loss clipping matters
        p1[20:40] = y[20:40]
    return [[1 - a, a] for a in p1], list(y)


def multiclass(seed, n, k, decimals=None):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), y] += 1.2
    p = np.exp(logits)
    if decimals is not None:
        p = np.round(p, decimals) + 1e-3
    p = p / p.sum(axis=1, keepdims=True)
    return [list(r) for r in p], list(y)


def feedback_bodies():
    cases = [
        ('{"request_id":"r0","label":1}', 200, {"joined": 1}),
        ('{"request_id":"r1","label":"virginica"}', 200, {"joined": 1}),
        ('{"feedback":[{"request_id":"r1","label":2},{"request_id":"r1","label":0}]}', 200,
         {"joined": 1, "duplicate": 1}),
        ('{"request_id":"nope","label":2}', 200, {"unknown": 1}),
        ('{"request_id":"r2","label":"rose"}', 200, {"invalid": 1}),
        ('{"feedback":[{"request_id":"r3","label":0},{"request_id":"r4","value":1,"model":"iris"},'
         '{"request_id":"r5","label":1,"model":"other"}]}', 200, {"joined": 2, "unknown": 1}),
        ('{"feedback":[]}', 200, {}),
        ('{"feedback":[{},{},{},{},{},{}]}', 413, None),
        ('{"request_id":"r6"}', 422, None),
        ('{"request_id":"r6","label":1,"value":2}', 400, None),
        ('{"label":1}', 422, None),
        ('{"request_id":"r6","label":NaN}', 422, None),
        ('{"request_id":"' + "x" * 65 + '","label":1}', 422, None),
        ('{"request_id":"r6","label":1,"feedback":[]}', 422, None),
        ('[1,2]', 400, None),
        ('{"request_id":"r6","label":1', 400, None),
        ('', 400, None),
    ]
    for body, status, counts in cases:
        out = subprocess.run([DRIVER, "serve"], input=body, capture_output=True, text=True)
        if out.returncode != 0:
            fail(f"serve {body[:60]!r}: driver failed: {out.stderr[-1500:]}")
            continue
        code, _, text = out.stdout.strip().partition(" ")
        doc = json.loads(text)
        if int(code) != status:
            fail(f"serve {body[:60]!r}: status {code}, expected {status}: {text}")
        elif counts is not None:
            want = {"joined": 0, "unknown": 0, "duplicate": 0, "invalid": 0, **counts}
            if doc != want:
                fail(f"serve {body[:60]!r}: {doc}, expected {want}")
        elif "error" not in doc:
            fail(f"serve {body[:60]!r}: no error message: {text}")


def main():
    classifier_case("binary", 2, *binary(1, 3000))
    classifier_case("binary ties", 2, *binary(2, 2000, decimals=1))
    classifier_case("binary extremes", 2, *binary(3, 1000, extremes=True))
    classifier_case("binary window", 2, *binary(4, 5000), max_pairs=1000)
    classifier_case("multiclass", 4, *multiclass(5, 3000, 4))
    classifier_case("multiclass ties", 3, *multiclass(6, 1500, 3, decimals=1))
    classifier_case("multiclass window", 5, *multiclass(7, 4000, 5), max_pairs=777)
    rng = np.random.default_rng(8)
    truth = rng.normal(10, 3, 4000)
    regression_case("regression", list(truth + rng.normal(0, 1.5, 4000)), list(truth))
    feedback_bodies()
    print(f"feedback metrics: max |kiln - scikit-learn| = {max_diff:.3g} (tolerance {TOL})")
    if not FAILS:
        print("PASS: feedback metrics equal scikit-learn; POST /feedback bodies answered as expected")
    finish()


if __name__ == "__main__":
    main()
