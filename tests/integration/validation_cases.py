"""validation_cases.py KILN SCRATCH ROOT — the input policy (kiln.yaml `validation:`). Prints
ok/FAIL per check; exit status = failures."""
import csv
import json
import os
import re
import subprocess
import sys
import time

import requests

KILN, SCRATCH, ROOT = sys.argv[1], sys.argv[2], sys.argv[3]
ENV = dict(os.environ, KILN_HOME=os.path.join(SCRATCH, "home"))
sys.path.insert(0, os.path.join(ROOT, "tests/lib"))
from kilntest import STARTED, check, finish, log_text, serve  # noqa: E402


def start(config):
    path = os.path.join(SCRATCH, f"kiln-{len(STARTED)}.yaml")
    with open(path, "w") as f:
        f.write(config)
    p, url, _ = serve(KILN, ["--config", path, "--access-log", "off"], path + ".log", ENV)
    return p, url


pkg = os.path.join(SCRATCH, "demo.kiln")
r = subprocess.run([KILN, "import", os.path.join(ROOT, "examples/demo/model.json"), "-o", pkg, "--reference",
                    os.path.join(ROOT, "examples/demo/patients.csv")], capture_output=True, text=True, env=ENV)
with open(os.path.join(ROOT, "examples/demo/patients.csv")) as f:
    rows = list(csv.reader(f))
NAMES, ROWS = rows[0], [[float(x) for x in r] for r in rows[1:]]
lo = min(r[0] for r in ROWS)
hi = max(r[0] for r in ROWS)
info = json.loads(subprocess.run([KILN, "inspect", pkg, "--json"], capture_output=True, text=True).stdout)
f0 = info["features"][0]
check("kiln import --reference records each feature's training range",
      f0["name"] == "mean_radius" and f0["min"] == lo and f0["max"] == hi, f0)

ROW = list(ROWS[0])
HIGH = list(ROW)
HIGH[0] = hi * 1.5
CLIPPED = list(ROW)
CLIPPED[0] = hi

# ---- reject ----------------------------------------------------------------------------------
p, url = start(f"""
models: {{demo: {pkg}}}
validation:
  range: reject
  features:
    mean_texture: {{missing: reject, range: flag}}
""")
s = requests.Session()
ok = s.post(url + "/predict", json={"features": ROW})
bad = s.post(url + "/predict", json={"features": HIGH})
check("a row inside the training range is scored", ok.status_code == 200, ok.text)
check("range: reject -> 422 naming the feature, the value and the range",
      bad.status_code == 422 and "feature 'mean_radius' = " in bad.json()["error"] and
      "outside the training range" in bad.json()["error"], bad.text)
batch = s.post(url + "/models/demo/predict", json={"instances": [ROW, ROW, HIGH]})
check("in a batch the message names the row", batch.status_code == 422 and batch.json()["error"].startswith("row 2: "),
      batch.text)
oip = s.post(url + "/v2/models/demo/infer", json={"inputs": [{"name": "input", "shape": [1, 30], "datatype": "FP64",
                                                               "data": HIGH}]})
check("OIP infer applies the same policy (422)", oip.status_code == 422 and "mean_radius" in oip.text, oip.text)
miss = dict(zip(NAMES, ROW))
miss["mean_texture"] = None
r1 = s.post(url + "/predict", json={"features": [None if n == "mean_texture" else v for n, v in zip(NAMES, ROW)]})
check("missing: reject on one feature -> 422 'is missing'", r1.status_code == 422 and
      "feature 'mean_texture' is missing" in r1.json()["error"], r1.text)
r2 = s.post(url + "/predict", json={"features": [None if n == "mean_area" else v for n, v in zip(NAMES, ROW)]})
check("a missing value elsewhere is still allowed", r2.status_code == 200, r2.text)
tex = list(ROW)
tex[1] = 1000.0
r3 = s.post(url + "/predict", json={"features": tex})
check("a per-feature override (range: flag) lets that feature through", r3.status_code == 200, r3.text)
metrics = s.get(url + "/metrics").text
check("rejections count as kiln_errors_total{reason=\"invalid_input\"}",
      re.search(r'kiln_errors_total\{reason="invalid_input"\} [3-9]', metrics), metrics[:200])
p.terminate()
p.wait(timeout=30)

# ---- clip --------------------------------------------------------------------------------------
p, url = start(f"""
models: {{demo: {pkg}}}
validation: {{range: clip}}
""")
a = s.post(url + "/predict", json={"features": HIGH}).json()
b = s.post(url + "/predict", json={"features": CLIPPED}).json()
check("range: clip scores the value clipped to the range (same answer as sending the bound)",
      a == b and "prediction" in a, (a, b))
oor = re.search(r'kiln_feature_out_of_range_total\{model="demo",version="1",feature="mean_radius"\} (\S+)',
                s.get(url + "/metrics").text)
check("a clipped value still counts as out of range", oor and float(oor.group(1)) == 1, oor and oor.group(0))
p.terminate()
p.wait(timeout=30)

# ---- default: flag -----------------------------------------------------------------------------
p, url = start(f"models: {{demo: {pkg}}}\n")
r = s.post(url + "/predict", json={"features": HIGH})
check("without a policy, out-of-range values are scored (and only counted)", r.status_code == 200, r.text)
p.terminate()
p.wait(timeout=30)

# ---- configuration errors ----------------------------------------------------------------------
for body, want in [("validation: {range: drop}\n", "validation.range: expected flag, clip or reject"),
                   ("validation: {missing: clip}\n", "validation.missing: expected allow or reject"),
                   ("validation: {features: {age: {rnage: reject}}}\n", "validation.features.age.rnage: unknown key")]:
    path = os.path.join(SCRATCH, "bad.yaml")
    with open(path, "w") as f:
        f.write(body)
    r = subprocess.run([KILN, "serve", "--config", path, "--model", f"demo={pkg}"], capture_output=True, text=True,
                       timeout=20, env=ENV)
    check(f"refused at startup: {want}", r.returncode != 0 and want in r.stderr, r.stderr)

finish()
