#!/usr/bin/python3
"""make_models.py — trains the serving benchmark's two equivalent models on one deterministic
synthetic data set (30 features, binary labels, fixed seeds) and writes the request bodies.

  make_models.py OUTDIR

Writes into OUTDIR:
  xgb.json       XGBoost binary:logistic, 100 trees, depth 6 (imported into Kiln by run.sh)
  gbc.joblib     scikit-learn GradientBoostingClassifier, 100 trees, depth 6 (the seed app's model)
  predict.json   {"features": [30 numbers]}                          seed /predict body
  infer.json     {"inputs": [{"name":"input-0","shape":[1,30],...}]} Open Inference Protocol body
  batch.json     {"instances": [[30 numbers] x 64]}                  Kiln batch body
"""
import json
import os
import sys

import joblib
import numpy as np
import xgboost as xgb
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier

TREES, DEPTH, FEATURES, ROWS, BATCH = 100, 6, 30, 10000, 64


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    x, y = make_classification(n_samples=ROWS, n_features=FEATURES, n_informative=15,
                               n_redundant=5, random_state=42)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": DEPTH, "eta": 0.1,
                         "seed": 7, "tree_method": "hist", "nthread": 1},
                        xgb.DMatrix(x, label=y), num_boost_round=TREES)
    booster.save_model(os.path.join(out, "xgb.json"))
    gbc = GradientBoostingClassifier(n_estimators=TREES, max_depth=DEPTH, random_state=42)
    gbc.fit(x, y)
    joblib.dump(gbc, os.path.join(out, "gbc.joblib"))

    rows = [[round(float(v), 6) for v in r] for r in x[:BATCH]]
    bodies = {
        "predict.json": {"features": rows[0]},
        "infer.json": {"inputs": [{"name": "input-0", "shape": [1, FEATURES],
                                   "datatype": "FP64", "data": rows[0]}]},
        "batch.json": {"instances": rows},
    }
    for name, body in bodies.items():
        with open(os.path.join(out, name), "w") as f:
            json.dump(body, f, separators=(",", ":"))
    # reference data for drift monitoring: the first 2000 training rows, columns f0..f29
    with open(os.path.join(out, "reference.csv"), "w") as f:
        f.write(",".join(f"f{j}" for j in range(FEATURES)) + "\n")
        for r in x[:2000]:
            f.write(",".join(f"{v:.6f}" for v in r) + "\n")


if __name__ == "__main__":
    main()
