"""monitoring_cases.py KILN SCRATCH ROOT — metrics of `kiln serve`, checked with promtool and a
real Prometheus scraping the server. Prints ok/FAIL per check; exit status = failures."""
import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import requests

KILN, SCRATCH, ROOT = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, os.path.join(ROOT, "tests/lib"))
from kilntest import STARTED, check, finish, serve, stop  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_kiln(*args):
    p, url, _ = serve(KILN, ["--access-log", "off", *args],
                      os.path.join(SCRATCH, f"serve-{len(STARTED)}.log"))
    return p, url


def samples(text, name):
    """{labels-string: value} of one metric in exposition text."""
    out = {}
    for line in text.splitlines():
        m = re.match(rf"^{name}(\{{[^}}]*\}})? (\S+)$", line)
        if m:
            out[m.group(1) or ""] = float(m.group(2))
    return out


demo = os.path.join(SCRATCH, "demo.kiln")
subprocess.run([KILN, "import", os.path.join(ROOT, "examples/demo/model.json"), "-o", demo], check=True,
               capture_output=True)
with open(os.path.join(ROOT, "examples/demo/patients.csv")) as f:
    ROWS = [[float(x) for x in r] for r in list(csv.reader(f))[1:]]

p, url = start_kiln("--model", f"demo={demo}")
s = requests.Session()
ok_sent = 0
for r in ROWS[:40]:
    ok_sent += s.post(url + "/predict", json={"features": r}).status_code == 200
batch = s.post(url + "/models/demo/predict", json={"instances": ROWS[:10]})
bad = [s.post(url + "/predict", json={"features": [1, 2]}).status_code for _ in range(3)]
s.get(url + "/no/such/path")
text = s.get(url + "/metrics").text
with open(os.path.join(SCRATCH, "metrics.txt"), "w") as f:
    f.write(text)

missing_row = list(ROWS[0])
missing_row[0] = None
missing_row[3] = None
nulls = [s.post(url + "/predict", json={"features": missing_row}).status_code for _ in range(2)]
ok_sent += nulls.count(200)
text = s.get(url + "/metrics").text
pc = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
check("promtool check metrics accepts the exposition without a warning",
      pc.returncode == 0 and not pc.stdout.strip() and not pc.stderr.strip(), pc.stdout + pc.stderr)
req = samples(text, "model_requests_total")
check("model_requests_total counts the 43 answered requests of demo version 1",
      req.get('{model="demo",version="1",status="200"}') == ok_sent + 1 == 43, req)
check("and the 3 refused rows of demo as status 422",
      bad == [422] * 3 and req.get('{model="demo",version="1",status="422"}') == 3, (bad, req))
check("and the unknown path under no model as 404", req.get('{model="",version="",status="404"}') == 1, req)
lat = samples(text, "model_request_latency_seconds_count")
check("model_request_latency_seconds counts every demo request", lat.get('{model="demo",version="1"}') == 46, lat)
buckets = samples(text, "model_request_latency_seconds_bucket")
les = [k for k in buckets if k.startswith('{model="demo"')]
check("latency buckets resolve tens of microseconds to seconds",
      any('le="2.5e-05"' in k for k in les) and any('le="5"' in k for k in les), les[:3])
conf = samples(text, "model_prediction_confidence_count")
check("model_prediction_confidence counts one value per predicted row (40 + 10 + 2)",
      conf.get('{model="demo",version="1"}') == 52, conf)
miss = samples(text, "kiln_feature_missing_total")
check("kiln_feature_missing_total counts the nulls sent, per feature",
      nulls == [200, 200] and miss.get('{model="demo",version="1",feature="mean_radius"}') == 2 and
      miss.get('{model="demo",version="1",feature="mean_area"}') == 2 and
      miss.get('{model="demo",version="1",feature="mean_texture"}') == 0, {k: v for k, v in miss.items() if v})
probs = [max(x) for x in batch.json()["probabilities"]]
single = [s.post(url + "/models/demo/predict", json={"features": r}).json()["confidence"] for r in ROWS[:40]]
nulls_conf = [s.post(url + "/predict", json={"features": missing_row}).json()["confidence"] for _ in range(2)]
csum = samples(s.get(url + "/metrics").text, "model_prediction_confidence_sum")['{model="demo",version="1"}']
want = 2 * sum(single) + sum(probs) + 2 * sum(nulls_conf)
check("the confidence histogram's sum equals the confidences answered (to 1e-6 per value)",
      abs(csum - want) < 1e-6 * 200, (csum, want))
errs = samples(text, "kiln_errors_total")
check("kiln_errors_total counts errors by reason", errs.get('{reason="bad_request"}') == 3 and
      errs.get('{reason="not_found"}') == 1, errs)
for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
             "process_start_time_seconds", "kiln_build_info", "kiln_models_loaded",
             "kiln_requests_in_flight", "kiln_model_load_duration_seconds"):
    check(f"{name} is exported", bool(samples(text, name)), name)
start = samples(text, "process_start_time_seconds")[""]
check("process_start_time_seconds is within a minute of now", abs(start - time.time()) < 60, start)
stats = s.get(url + "/v2/models/demo/stats").json()
check("/v2/models/demo/stats: requests, error rate and latency percentiles",
      stats["requests"] >= 88 and abs(stats["error_rate"] - 3 / stats["requests"]) < 1e-12 and
      0 < stats["latency_seconds"]["p50"] <= stats["latency_seconds"]["p99"] < 1, stats)
check("/v2/models/nope/stats is 404", s.get(url + "/v2/models/nope/stats").status_code == 404)

# ---- online drift against the reference stored by `kiln import --reference` ------------------
import numpy as np
from scipy import stats as sps

refpkg = os.path.join(SCRATCH, "demo-ref.kiln")
r = subprocess.run([KILN, "import", os.path.join(ROOT, "examples/demo/model.json"), "-o", refpkg,
                    "--reference", os.path.join(ROOT, "examples/demo/patients.csv")], capture_output=True, text=True)
check("kiln import --reference stores reference statistics", r.returncode == 0 and "reference statistics of 40 rows" in r.stdout,
      r.stdout + r.stderr)
dp, durl = start_kiln("--model", f"demo={refpkg}", "--set", f"drift_window={len(ROWS)}")
ds = requests.Session()
for row in ROWS:
    ds.post(durl + "/predict", json={"features": row})
dtext = ds.get(durl + "/metrics").text
status = samples(dtext, "kiln_feature_drift_status")
check("traffic like the reference: no feature drifts (31 series, all 0)",
      len(status) == 31 and all(v == 0 for v in status.values()), {k: v for k, v in status.items() if v})
shifted = [[x * 1.5 if j == 0 else x for j, x in enumerate(row)] for row in ROWS]
for row in shifted:
    ds.post(durl + "/predict", json={"features": row})
dtext = ds.get(durl + "/metrics").text
status = samples(dtext, "kiln_feature_drift_status")
lab = 'model="demo",version="1",feature="mean_radius"'
check("a shifted feature is flagged significant (2), the untouched ones are not",
      status.get("{" + lab + "}") == 2 and status.get('{model="demo",version="1",feature="mean_texture"}') == 0, status)
drift = samples(dtext, "kiln_feature_drift")
ref_col = np.array([row[0] for row in ROWS])
cur_col = np.array([row[0] for row in shifted])
ks = sps.ks_2samp(ref_col, cur_col).statistic
w = sps.wasserstein_distance(ref_col, cur_col) / max(ref_col.std(), 1e-3)
check("the window's KS statistic equals scipy's ks_2samp (whole reference kept: exact)",
      abs(drift["{" + lab + ',method="ks"}'] - ks) < 1e-12, (drift.get("{" + lab + ',method="ks"}'), ks))
check("the window's normalised Wasserstein equals scipy's wasserstein_distance / std",
      abs(drift["{" + lab + ',method="wasserstein"}'] - w) < 1e-9, (drift.get("{" + lab + ',method="wasserstein"}'), w))
pc = subprocess.run(["promtool", "check", "metrics"], input=dtext, capture_output=True, text=True)
check("promtool accepts the exposition with drift metrics", pc.returncode == 0 and not pc.stdout.strip(), pc.stdout)
dp.send_signal(signal.SIGTERM)
dp.wait(timeout=30)

# drift_window_seconds: drifted rows leave the window by age, not only by count (the row cap,
# 1000, is never reached here)
tp, turl = start_kiln("--model", f"demo={refpkg}", "--set", "drift_window=1000",
                      "--set", "drift_window_seconds=2")
ts = requests.Session()
ts.post(turl + "/models/demo/predict", json={"instances": shifted})
t_drift = time.monotonic()
ts.post(turl + "/models/demo/predict", json={"instances": ROWS})
tstatus = samples(ts.get(turl + "/metrics").text, "kiln_feature_drift_status")
check("drift_window_seconds=2: drifted rows just sent are in the window (mean_radius 2)",
      tstatus.get("{" + lab + "}") == 2, tstatus.get("{" + lab + "}"))
fell_back = None
while time.monotonic() - t_drift < 6:  # the drifted second leaves 2 to 3 s after it ended
    time.sleep(0.25)
    ts.post(turl + "/models/demo/predict", json={"instances": ROWS})
    tstatus = samples(ts.get(turl + "/metrics").text, "kiln_feature_drift_status")
    if len(tstatus) == 31 and all(v == 0 for v in tstatus.values()):
        fell_back = time.monotonic() - t_drift
        break
check("after about 3 s of normal rows only, every feature is back to 0 (not before 1 s)",
      fell_back is not None and 1 <= fell_back <= 4.5, (fell_back, {k: v for k, v in tstatus.items() if v}))
tdrift = samples(ts.get(turl + "/metrics").text, "kiln_feature_drift")
check("and the window's KS for mean_radius is 0 again (only reference-like rows left)",
      abs(tdrift.get("{" + lab + ',method="ks"}', 1)) < 1e-12, tdrift.get("{" + lab + ',method="ks"}'))
tp.send_signal(signal.SIGTERM)
tp.wait(timeout=30)

# a registered version gets its reference afterwards, and the server uses it
env = dict(os.environ, KILN_HOME=os.path.join(SCRATCH, "home"), KILN_USER="tester")
reg = subprocess.run([KILN, "models", "register", os.path.join(ROOT, "examples/demo/model.json"), "--name", "demo",
                      "--alias", "production"], env=env, capture_output=True, text=True)
ref = subprocess.run([KILN, "models", "reference", "demo@1", os.path.join(ROOT, "examples/demo/patients.csv")],
                     env=env, capture_output=True, text=True)
shown = json.loads(subprocess.run([KILN, "models", "show", "demo@1", "--json"], env=env, capture_output=True,
                                  text=True).stdout)
check("kiln models reference stores a reference for a registered version",
      reg.returncode == 0 and ref.returncode == 0 and shown["drift_reference"]["rows"] == 40, ref.stderr)
os.environ.update(KILN_HOME=env["KILN_HOME"])
rp, rurl = start_kiln("--serve", "demo@production")
for row in ROWS:
    requests.post(rurl + "/predict", json={"features": row})
rstatus = samples(requests.get(rurl + "/metrics").text, "kiln_feature_drift_status")
check("the server scores traffic against the registry's reference", len(rstatus) == 31, len(rstatus))
rp.send_signal(signal.SIGTERM)
rp.wait(timeout=30)

# ---- ground truth through the server, and the prediction log ----------------------------------
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

logdir = os.path.join(SCRATCH, "predlog")
fp, furl = start_kiln("--model", f"demo={demo}", "--set", "prediction_log_rate=1",
                      "--set", f"prediction_log_dir={logdir}")
fs = requests.Session()
rng = np.random.default_rng(5)
truth, proba = [], []
for i, row in enumerate(ROWS):
    rid = f"fb-{i}"
    ans = fs.post(furl + "/models/demo/predict", json={"features": row}, headers={"X-Request-Id": rid}).json()
    proba.append(ans["probabilities"][1])
    truth.append(int(rng.integers(0, 2)))
body = {"feedback": [{"request_id": f"fb-{i}", "label": t} for i, t in enumerate(truth)]
        + [{"request_id": "never-seen", "label": 1}]}
fb = fs.post(furl + "/feedback", json=body)
check("POST /feedback joins ground truth by request id",
      fb.status_code == 200 and fb.json().get("joined") == len(ROWS) and fb.json().get("unknown") == 1, fb.text)
again = fs.post(furl + "/feedback", json={"request_id": "fb-0", "label": truth[0]}).json()
check("feedback for the same request twice is counted as a duplicate", again.get("duplicate") == 1, again)
ftext = fs.get(furl + "/metrics").text
lab = '{model="demo",version="1"}'
got = {m: samples(ftext, f"kiln_model_{m}").get(lab) for m in ("accuracy", "f1", "log_loss", "roc_auc")}
pred = [int(p >= 0.5) for p in proba]
want = {"accuracy": accuracy_score(truth, pred), "f1": f1_score(truth, pred),
        "log_loss": log_loss(truth, proba), "roc_auc": roc_auc_score(truth, proba)}
check("online accuracy, F1, log loss and ROC AUC equal scikit-learn's on the same pairs",
      all(got[m] is not None and abs(got[m] - want[m]) < 1e-9 for m in want), (got, want))
check("kiln exits 0 on SIGTERM (feedback server)", stop(fp) == 0)
lines = []
for name in sorted(os.listdir(logdir)):
    with open(os.path.join(logdir, name)) as f:
        lines += [json.loads(x) for x in f if x.strip()]
logged = [x for x in lines if str(x.get("request_id", "")).startswith("fb-")]
check("the prediction log (rate 1) holds one JSON line per prediction with inputs and outputs",
      len(logged) == len(ROWS) and logged[0]["model"] == "demo" and len(logged[0]["inputs"]) == 30
      and len(logged[0]["outputs"]) == 2, (len(logged), lines[:1]))

# ---- deploy/: rules, scrape config and dashboard agree with what kiln exports --------------
deploy = os.path.join(ROOT, "deploy")
for args in (["check", "rules", f"{deploy}/prometheus/kiln-rules.yml"],
             ["check", "config", f"{deploy}/prometheus/prometheus.yml"]):
    r = subprocess.run(["promtool", *args], capture_output=True, text=True)
    check("promtool " + " ".join(args[:2]) + " accepts deploy/prometheus", r.returncode == 0, r.stdout + r.stderr)
exported = set(re.findall(r"^# TYPE (\S+)", text, re.M))
with open(f"{deploy}/grafana/kiln-dashboard.json") as f:
    dash = json.load(f)
exprs = [t["expr"] for pnl in dash["panels"] for t in pnl["targets"]]
with open(f"{deploy}/prometheus/kiln-rules.yml") as f:
    exprs.append(f.read())
used = {re.sub(r"_(bucket|sum|count)$", "", m) for e in exprs
        for m in re.findall(r"\b((?:model|kiln|process)_[a-z_]+)", e)}
check("every metric the dashboard and the alert rules use is exported", used <= exported, used - exported)

# ---- a real Prometheus scrapes the server --------------------------------------------------
port = free_port()
target = url.split("//")[1]
cfg = os.path.join(SCRATCH, "prometheus.yml")
with open(cfg, "w") as f:
    rules = os.path.join(ROOT, "deploy/prometheus/kiln-rules.yml")
    f.write(f"global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['{rules}']\n"
            f"scrape_configs:\n  - job_name: kiln\n"
            f"    static_configs:\n      - targets: ['{target}']\n")
prom = subprocess.Popen(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={SCRATCH}/tsdb",
                         f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                        stderr=open(os.path.join(SCRATCH, "prometheus.log"), "w"))
STARTED.append(prom)
try:
    value, deadline = None, time.time() + 40
    q = 'model_requests_total{job="kiln",model="demo",version="1",status="200"}'
    while time.time() < deadline and value is None:
        time.sleep(1)
        try:
            res = requests.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": q}, timeout=2).json()
            if res["data"]["result"]:
                value = float(res["data"]["result"][0]["value"][1])
        except requests.exceptions.ConnectionError:
            pass
    final = samples(s.get(url + "/metrics").text, "model_requests_total")['{model="demo",version="1",status="200"}']
    check("Prometheus scraped kiln and returns model_requests_total through its query API",
          value is not None and 41 <= value <= final, (value, final))
    groups = requests.get(f"http://127.0.0.1:{port}/api/v1/rules").json()["data"]["groups"]
    loaded = [r for g in groups for r in g["rules"]]
    check("Prometheus loads deploy/prometheus/kiln-rules.yml: 7 alert rules, all healthy",
          len(loaded) == 7 and all(r["health"] in ("ok", "unknown") for r in loaded),
          [(r["name"], r["health"], r.get("lastError")) for r in loaded])
    up = requests.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": 'up{job="kiln"}'}).json()
    check("the kiln target is up in Prometheus", up["data"]["result"] and up["data"]["result"][0]["value"][1] == "1", up)
finally:
    prom.send_signal(signal.SIGTERM)
    prom.wait(timeout=30)
    check("kiln exits 0 on SIGTERM", stop(p) == 0)
finish()
