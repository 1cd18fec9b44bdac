#!/usr/bin/python3
"""make_xgb_model.py — trains the benchmark model: XGBoost binary:logistic, 100 trees of depth 6
on 30 features (fixed seed), saved as XGBoost JSON. Usage: make_xgb_model.py OUT.json
[--trees 100] [--depth 6] [--features 30]."""
import argparse

import numpy as np
import xgboost as xgb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--features", type=int, default=30)
    ap.add_argument("--rows", type=int, default=50000)
    a = ap.parse_args()
    rng = np.random.default_rng(42)
    x = rng.standard_normal((a.rows, a.features))
    x[rng.random(x.shape) < 0.02] = np.nan  # some missing values: default directions matter
    w = rng.standard_normal(a.features)
    z = np.nan_to_num(x) @ w + np.sin(3 * np.nan_to_num(x[:, 0])) * 2 + np.nan_to_num(x[:, 1] * x[:, 2])
    y = (z + rng.standard_normal(a.rows) > 0).astype(np.float32)
    params = {"objective": "binary:logistic", "max_depth": a.depth, "eta": 0.1, "seed": 7,
              "tree_method": "hist", "nthread": 2}
    booster = xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=a.trees)
    booster.save_model(a.out)


if __name__ == "__main__":
    main()
