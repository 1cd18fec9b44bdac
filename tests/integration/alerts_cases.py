"""alerts_cases.py KILN SCRATCH ROOT — alert rules in kiln.yaml, evaluated by `kiln serve` and
delivered to a webhook receiver run here (127.0.0.1). Prints ok/FAIL per check; exit status =
failures."""
import csv
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

KILN, SCRATCH, ROOT = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, os.path.join(ROOT, "tests/lib"))
from kilntest import STARTED, check, finish, log_text, serve  # noqa: E402


# ---- the webhook receiver ---------------------------------------------------------------------
RECEIVED = {}   # path -> [(time, status answered, body)]
FAIL_FIRST = {"/flaky": 2}  # answer 500 to the first N posts on these paths


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        left = FAIL_FIRST.get(self.path, 0)
        code = 500 if left > 0 else 200
        FAIL_FIRST[self.path] = left - 1
        RECEIVED.setdefault(self.path, []).append((time.time(), code, json.loads(body),
                                                   self.headers.get("Content-Type")))
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=hook.serve_forever, daemon=True).start()
HOOK = f"http://127.0.0.1:{hook.server_address[1]}"


def got(path, status=None):
    return [b for (_, code, b, _) in RECEIVED.get(path, []) if code == 200 and (not status or b["status"] == status)]


def wait_for(cond, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def start_kiln(config, *args):
    path = os.path.join(SCRATCH, f"kiln-{len(STARTED)}.yaml")
    with open(path, "w") as f:
        f.write(config)
    return serve(KILN, ["--config", path, "--access-log", "off", *args],
                 os.path.join(SCRATCH, f"kiln-{len(STARTED)}.log"))


refpkg = os.path.join(SCRATCH, "demo-ref.kiln")
subprocess.run([KILN, "import", os.path.join(ROOT, "examples/demo/model.json"), "-o", refpkg,
                "--reference", os.path.join(ROOT, "examples/demo/patients.csv")], check=True, capture_output=True)
with open(os.path.join(ROOT, "examples/demo/patients.csv")) as f:
    ROWS = [[float(x) for x in r] for r in list(csv.reader(f))[1:]]
SHIFTED = [[x * 1.5 if j == 0 else x for j, x in enumerate(row)] for row in ROWS]

# ---- drift: firing, then resolved ------------------------------------------------------------
p, url, log = start_kiln(f"""
models:
  demo: {refpkg}
monitoring:
  drift_window: {len(ROWS)}
alerts:
  interval: 100ms
  group_wait: 0s
  group_interval: 300ms
  repeat_interval: 1h
  group_by: [alertname, model]
  external_url: http://kiln.example
  webhooks: [{HOOK}/drift]
  rules:
    - alert: FeatureDrift
      metric: kiln_feature_drift_status
      where: {{feature: mean_radius}}
      op: ">="
      threshold: 2
      for: 800ms
      labels: {{severity: warning}}
      annotations:
        summary: "{{{{ $labels.model }}}} v{{{{ $labels.version }}}}: {{{{ $labels.feature }}}} drifted"
""")
s = requests.Session()
for row in ROWS:
    s.post(url + "/predict", json={"features": row})
time.sleep(1.2)
check("traffic like the reference: no notification, no alert",
      not RECEIVED.get("/drift") and s.get(url + "/alerts").json() == {"alerts": []}, RECEIVED.get("/drift"))

t_drift = time.time()
for row in SHIFTED:
    s.post(url + "/predict", json={"features": row})
pending = s.get(url + "/alerts").json()["alerts"]
wait_for(lambda: got("/drift"), 10)
firing = got("/drift")
t_fired = RECEIVED["/drift"][0][0] if firing else 0
check("a drifted feature sends one firing notification", len(firing) == 1 and firing[0]["status"] == "firing",
      RECEIVED.get("/drift"))
check("`for: 800ms` holds the alert pending first", t_fired - t_drift >= 0.75 and
      (not pending or pending[0]["state"] == "pending"), (t_fired - t_drift, pending))
if firing:
    n = firing[0]
    a = n["alerts"][0] if n["alerts"] else {}
    check("the body is Alertmanager's webhook format (version 4)",
          n["version"] == "4" and n["receiver"] and n["truncatedAlerts"] == 0 and
          n["externalURL"] == "http://kiln.example" and len(n["alerts"]) == 1 and
          n["groupKey"] == '{}:{alertname="FeatureDrift", model="demo"}', n)
    check("the alert carries the series' labels, alertname and the rule's labels",
          a["labels"] == {"alertname": "FeatureDrift", "model": "demo", "version": "1",
                          "feature": "mean_radius", "severity": "warning"}, a.get("labels"))
    check("groupLabels are the group_by labels; commonLabels the shared ones",
          n["groupLabels"] == {"alertname": "FeatureDrift", "model": "demo"} and
          n["commonLabels"] == a["labels"], n)
    check("annotations are rendered from the template",
          a["annotations"] == {"summary": "demo v1: mean_radius drifted"}, a.get("annotations"))
    check("startsAt is RFC 3339, endsAt the zero time, fingerprint 16 hex digits",
          re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", a["startsAt"]) and
          a["endsAt"] == "0001-01-01T00:00:00Z" and re.match(r"^[0-9a-f]{16}$", a["fingerprint"]), a)
    check("notifications are posted as application/json", RECEIVED["/drift"][0][3] == "application/json")
listed = s.get(url + "/alerts").json()["alerts"]
check("GET /alerts lists it firing with its value",
      len(listed) == 1 and listed[0]["state"] == "firing" and listed[0]["value"] == 2, listed)
metrics = s.get(url + "/metrics").text
check("/metrics counts it: kiln_alerts{alertname=\"FeatureDrift\",state=\"firing\"} 1",
      'kiln_alerts{alertname="FeatureDrift",state="firing"} 1' in metrics and
      'kiln_alert_notifications_total{outcome="sent"} 1' in metrics,
      [l for l in metrics.splitlines() if "alert" in l])
check("the firing alert is in the server log", re.search(r"alert FeatureDrift firing: .*feature=mean_radius", log_text(log)))
time.sleep(1.0)  # more than 3 group intervals: nothing changed, so nothing is sent again
check("no duplicate while nothing changes (dedupe within repeat_interval)", len(RECEIVED["/drift"]) == 1,
      len(RECEIVED["/drift"]))

for row in ROWS:
    s.post(url + "/predict", json={"features": row})
wait_for(lambda: got("/drift", "resolved"), 10)
resolved = got("/drift", "resolved")
check("removing the drift sends one resolved notification", len(resolved) == 1, RECEIVED.get("/drift"))
if resolved and firing:
    r = resolved[0]["alerts"][0]
    check("the resolved alert has the same fingerprint, status resolved and an endsAt",
          r["status"] == "resolved" and r["fingerprint"] == firing[0]["alerts"][0]["fingerprint"] and
          r["endsAt"] != "0001-01-01T00:00:00Z" and r["endsAt"] >= r["startsAt"], r)
time.sleep(0.8)
check("after resolving, nothing more is sent and /alerts is empty",
      len(RECEIVED["/drift"]) == 2 and s.get(url + "/alerts").json() == {"alerts": []}, len(RECEIVED["/drift"]))
check("the resolution is in the server log", "alert FeatureDrift resolved" in log_text(log))
p.terminate()
p.wait(timeout=30)

# ---- repeat, retries, derived signals ---------------------------------------------------------
demo = os.path.join(SCRATCH, "demo.kiln")
subprocess.run([KILN, "import", os.path.join(ROOT, "examples/demo/model.json"), "-o", demo], check=True,
               capture_output=True)
p, url, log = start_kiln(f"""
models:
  demo: {demo}
alerts:
  interval: 100ms
  group_wait: 0s
  group_interval: 200ms
  repeat_interval: 1s
  webhooks:
    - url: {HOOK}/flaky
      timeout: 2s
    - {HOOK}/second
  rules:
    - alert: Serving
      metric: kiln_models_loaded
      op: ">="
      threshold: 1
    - alert: HighErrorRate
      metric: error_rate
      where: {{model: demo}}
      threshold: 0.3
      window: 4s
      annotations: {{summary: "{{{{ $value }}}} of requests fail"}}
""")
wait_for(lambda: len(got("/second")) >= 3, 6)
serving = [b for b in got("/second") if b["groupLabels"] == {"alertname": "Serving"}]
check("an unchanged firing group is sent again every repeat_interval (1 s)",
      3 <= len(serving) <= 5, len(serving))
check("a failing webhook is retried with backoff until it answers 2xx",
      wait_for(lambda: got("/flaky"), 6) and [c for (_, c, _, _) in RECEIVED["/flaky"][:3]] == [500, 500, 200],
      [c for (_, c, _, _) in RECEIVED.get("/flaky", [])])
check("a failed try is logged", "answered 500 (try 1 of 5)" in log_text(log))
for i in range(10):
    s.post(url + "/predict", json={"features": ROWS[i]})
    s.post(url + "/predict", json={"features": [1, 2]})
ok = wait_for(lambda: [b for b in got("/second") if b["groupLabels"] == {"alertname": "HighErrorRate"}], 5)
errs = [b for b in got("/second") if b["groupLabels"] == {"alertname": "HighErrorRate"}]
summary = errs[0]["alerts"][0]["annotations"]["summary"] if ok else ""
m = re.fullmatch(r"([0-9.]+) of requests fail", summary)
check("error_rate over the window fires when half the requests fail (annotation carries the value)",
      ok and errs[0]["alerts"][0]["labels"]["model"] == "demo" and m and float(m.group(1)) > 0.3, errs[:1])


def error_value():
    listed = {a["labels"]["alertname"]: a for a in s.get(url + "/alerts").json()["alerts"]}
    return listed.get("HighErrorRate", {}).get("value", 0)


check("GET /alerts shows the error rate over the window: 10 failed of 20 = 0.5",
      wait_for(lambda: abs(error_value() - 0.5) < 1e-9, 3), error_value())
wait_for(lambda: [b for b in got("/second", "resolved") if b["groupLabels"] == {"alertname": "HighErrorRate"}], 12)
check("the error rate resolves once the window holds no failures",
      [b for b in got("/second", "resolved") if b["groupLabels"] == {"alertname": "HighErrorRate"}])
p.terminate()
p.wait(timeout=30)

# ---- configuration errors name the key --------------------------------------------------------
for body, want in [
    ("alerts:\n  rules:\n    - alert: X\n      metric: error_rate\n      op: '=>'\n      threshold: 1\n",
     "alerts.rules[0].op: expected one of"),
    ("alerts:\n  rules:\n    - alert: X\n      metric: kiln_x\n", "alerts.rules[0].threshold: every rule needs"),
    ("alerts:\n  rules:\n    - alert: X\n      metric: kiln_x\n      threshold: 1\n      for: 5 minutes\n",
     "alerts.rules[0].for: expected a duration"),
    ("alerts:\n  intervl: 5s\n", "alerts.intervl: unknown key"),
    ("alerts:\n  webhooks: [ftp://example.org]\n", "alerts.webhooks: a webhook url starts with http"),
]:
    path = os.path.join(SCRATCH, "bad.yaml")
    with open(path, "w") as f:
        f.write(body)
    r = subprocess.run([KILN, "serve", "--config", path, "--listen", "127.0.0.1:0"], capture_output=True,
                       text=True, timeout=10)
    check(f"a bad alerts section is refused: {want}", r.returncode != 0 and want in r.stderr, r.stderr)

hook.shutdown()
finish()
