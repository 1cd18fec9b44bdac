#!/usr/bin/python3
"""drift_cases.py DRIVER SCRATCH — drift statistics of Kiln (through drift_driver) against
scipy on identical, seeded numpy samples.

Exact where the computation is exact (relative tolerance EXACT_REL):
  drift_exact_ks == scipy.stats.ks_2samp(...).statistic, drift_exact_wasserstein ==
  scipy.stats.wasserstein_distance, JS == scipy.spatial.distance.jensenshannon(base=2) on the
  same bin counts, PSI == numpy reimplementation of the Evidently formula over the reference
  deciles, chi2 == scipy.stats.chisquare, ks_pvalue == scipy.stats.kstwobign.sf(sqrt(en) * ks),
  and sketch KS / Wasserstein when the reference is small enough to be kept whole.
Within documented tolerances where the reference is a quantile sketch (docs/drift.md):
  KS within SKETCH_KS, normalised Wasserstein within SKETCH_W of scipy on the full samples.
Prints one line per case with the max differences and a FAIL line per failure; exit status =
failures.
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

EXACT_REL = 1e-12
EXACT_ABS = 1e-15  # for values that are (nearly) zero, where relative error means nothing
SKETCH_KS = 0.005  # 1000 quantiles: interpolation error <= 1/999 + 1/n_ref, with margin
SKETCH_W = 0.02    # normalised Wasserstein, 1000 quantiles: heavy tails dominate (docs/drift.md)
PSI_EPS = 0.0001

driver, scratch = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../lib"))
from kilntest import fail, finish  # noqa: E402


def close(got, want, rel=EXACT_REL, abs_=EXACT_ABS):
    if math.isnan(want) or math.isnan(got):
        return math.isnan(want) and math.isnan(got)
    if math.isinf(want) or math.isinf(got):
        return got == want
    return abs(got - want) <= max(rel * abs(want), abs_)


def check(case, what, got, want, rel=EXACT_REL, abs_=EXACT_ABS):
    ok = close(got, want, rel, abs_)
    diff = abs(got - want) if not (math.isnan(got) or math.isnan(want)) else float("nan")
    if not ok:
        fail(f"{case}: {what} got {got!r} want {want!r}")
    return diff


def write(name, values):
    path = os.path.join(scratch, name)
    with open(path, "w") as f:
        for v in values:
            f.write("nan\n" if math.isnan(v) else repr(float(v)) + "\n")
    return path


def run(mode, a, b, param=None):
    args = [driver, mode, write("a.txt", a), write("b.txt", b)]
    if param is not None:
        args.append(str(param))
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"driver failed ({r.returncode}): {r.stderr.strip()}")
    return json.loads(r.stdout)


def bin_counts(edges, x):
    return np.bincount(np.searchsorted(np.asarray(edges[1:-1]), x, side="right"),
                       minlength=len(edges) - 1)


def psi(ref_counts, cur_counts):
    r = np.asarray(ref_counts, float) / np.sum(ref_counts)
    c = np.asarray(cur_counts, float) / np.sum(cur_counts)
    r[r == 0] = PSI_EPS
    c[c == 0] = PSI_EPS
    return float(np.sum((r - c) * np.log(r / c)))


def common(case, out, rc, cc):
    s = out["scores"]
    d = {}
    d["psi"] = check(case, "psi", s["psi"], psi(rc, cc))
    d["js"] = check(case, "js", s["js"], float(jensenshannon(rc, cc, base=2)))
    if not (out["window_equal"] and out["roundtrip_equal"]):
        fail(f"{case}: window or JSON round-trip scores differ from drift_score")
    return d


def numeric_case(case, ref, cur, nq=1000, want_verdict=None):
    out = run("num", ref, cur, nq)
    rv, cv = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    s, r = out["scores"], out["ref"]
    ks = stats.ks_2samp(rv, cv).statistic
    w = stats.wasserstein_distance(rv, cv)
    std = max(float(np.std(rv)), 0.001)
    d = {"exact_ks": check(case, "exact_ks", out["exact_ks"], ks),
         "exact_w": check(case, "exact_wasserstein", out["exact_wasserstein"], w)}
    rc = bin_counts(r["edges"], rv)
    if list(rc) != r["counts"]:
        fail(f"{case}: reference bin counts differ from numpy's")
    d.update(common(case, out, rc, bin_counts(r["edges"], cv)))
    if r["sketch"] == "sample":
        d["ks"] = check(case, "sketch ks (exact)", s["ks"], ks)
        d["w"] = check(case, "sketch wasserstein (exact)", s["wasserstein"], w / std)
    else:
        d["ks"] = check(case, "sketch ks", s["ks"], ks, 0, SKETCH_KS)
        d["w"] = check(case, "sketch wasserstein", s["wasserstein"], w / std, 0, SKETCH_W)
    en = len(rv) * len(cv) / (len(rv) + len(cv))
    d["p"] = check(case, "ks_pvalue", s["ks_pvalue"], stats.kstwobign.sf(math.sqrt(en) * s["ks"]),
                   1e-9, 1e-12)
    if (s["count"], s["missing"]) != (len(cv), len(cur) - len(cv)) or r["missing"] != len(ref) - len(rv):
        fail(f"{case}: count/missing wrong")
    if want_verdict and s["verdict"] != want_verdict:
        fail(f"{case}: verdict {s['verdict']}, want {want_verdict}")
    report(case, d, s)


def categorical_case(case, ref, cur, k):
    out = run("cat", ref, cur, k)
    s = out["scores"]

    def counts(x):
        x = x[~np.isnan(x)]
        code = np.where((x >= 0) & (x < k) & (x == np.floor(x)), x, k).astype(int)
        return np.bincount(code, minlength=k + 1)

    rc, cc = counts(ref), counts(cur)
    if list(rc) != out["ref"]["counts"]:
        fail(f"{case}: reference category counts differ")
    d = common(case, out, rc, cc)
    seen = rc > 0
    exp = rc[seen] / rc.sum() * cc.sum()
    d["chi2"] = check(case, "chi2", s["chi2"], float(stats.chisquare(cc[seen], exp).statistic))
    report(case, d, s)


def report(case, d, s):
    diffs = " ".join(f"{k}={v:.1e}" for k, v in d.items())
    print(f"{case:<34} psi={s['psi']:.4f} js={s['js']:.4f} ks={s['ks']:.4f} "
          f"w={s['wasserstein']:.4f} {s['verdict']:<11} maxdiff {diffs}")


def with_nans(rng, x, rate):
    x = x.copy()
    x[rng.random(len(x)) < rate] = np.nan
    return x


def main():
    rng = np.random.default_rng(20240611)
    n, m = 20000, 10000
    numeric_case("normal, no drift", rng.normal(size=n), rng.normal(size=m), want_verdict="none")
    numeric_case("normal vs shifted 0.5", rng.normal(size=n), rng.normal(0.5, 1, m),
                 want_verdict="significant")
    numeric_case("normal vs shifted 0.1", rng.normal(size=n), rng.normal(0.1, 1, m))
    numeric_case("uniform vs wider uniform", rng.uniform(size=n), rng.uniform(-0.2, 1.2, m))
    numeric_case("student t(3) vs scaled", rng.standard_t(3, n), 1.3 * rng.standard_t(3, m))
    numeric_case("lognormal heavy tail", rng.lognormal(0, 1.5, n), rng.lognormal(0.1, 1.5, m))
    numeric_case("with 5%/20% NaN", with_nans(rng, rng.normal(size=n), 0.05),
                 with_nans(rng, rng.normal(0.2, 1, m), 0.2))
    numeric_case("poisson ties", rng.poisson(3, n).astype(float), rng.poisson(3.5, m).astype(float))
    numeric_case("small reference kept whole", rng.normal(size=800), rng.normal(0.3, 1.2, 300))
    numeric_case("constant reference", np.full(500, 2.0), rng.normal(2, 1, 300))
    numeric_case("sketch of 100 quantiles", rng.normal(size=n), rng.normal(0.2, 1, m), 100)
    categorical_case("categorical shift", rng.choice([0, 1, 2, 3, 9], n, p=[.4, .3, .2, .05, .05]).astype(float),
                     rng.choice([0, 1, 2, 3, 9], m, p=[.3, .3, .25, .1, .05]).astype(float), 5)
    categorical_case("categorical with NaN, no drift",
                     with_nans(rng, rng.integers(0, 20, n).astype(float), 0.1),
                     with_nans(rng, rng.integers(0, 20, m).astype(float), 0.1), 20)
    for i in range(3):
        p = rng.integers(0, 5, 12).astype(float)
        q = rng.integers(0, 5, 12).astype(float)
        p[i] = q[i + 3] = 0
        got = run("js", p, q)["js"]
        diff = check(f"js counts {i}", "js", got, float(jensenshannon(p, q, base=2)))
        print(f"{'js counts ' + str(i):<34} js={got:.6f} maxdiff {diff:.1e}")
    finish()


if __name__ == "__main__":
    main()
