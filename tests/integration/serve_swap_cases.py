"""serve_swap_cases.py KILN SCRATCH ROOT — hot swaps, memory, reload (audited) and shutdown of
`kiln serve`.

Every check prints "ok   …" or "FAIL …"; the exit status is the number of failures (capped).
Traffic stays on 127.0.0.1 with bounded request counts and durations."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import requests

KILN, SCRATCH, ROOT = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, os.path.join(ROOT, "tests/lib"))
from kilntest import STARTED, check, finish, log_text, serve, stop  # noqa: E402

ENV = dict(os.environ, KILN_HOME=os.path.join(SCRATCH, "home"), KILN_USER="tester")


def kiln(*args):
    return subprocess.run([KILN, *args], env=ENV, capture_output=True, text=True, timeout=120)


def start(*args, env=None):
    """Starts `kiln serve` on a free port; returns (process, base url)."""
    p, url, _ = serve(KILN, ["--access-log", "off", *args],
                      os.path.join(SCRATCH, f"serve-{len(STARTED)}.log"), env or ENV)
    return p, url


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def row():
    import csv
    with open(os.path.join(ROOT, "examples/demo/patients.csv")) as f:
        rows = list(csv.reader(f))
    return [float(x) for x in rows[1]]


FEATURES = row()
with open(KILN, "rb") as _f:
    ASAN = b"__asan_init" in _f.read()  # the sanitizer build keeps freed memory in quarantine


# ---- alias flips under load ----------------------------------------------------------------

def alias_flips():
    src = os.path.join(ROOT, "examples/demo/model.json")
    for _ in range(2):
        r = kiln("models", "register", src, "--name", "demo", "--json")
        assert r.returncode == 0, r.stderr
    kiln("models", "alias", "demo@1", "production")
    p, url = start("--serve", "demo@production")
    results, stop_flag = [], threading.Event()

    def load():
        s = requests.Session()
        while not stop_flag.is_set():
            try:
                r = s.post(url + "/models/demo/predict", json={"features": FEATURES}, timeout=10)
                results.append((r.status_code, r.json().get("version")))
            except Exception as e:  # a refused or reset connection is a failed request
                results.append((0, str(e)))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    lag = []
    for i in range(20):
        v = 2 if i % 2 == 0 else 1
        kiln("models", "alias", f"demo@{v}", "production")
        t0 = time.time()
        while time.time() - t0 < 3:  # the server must notice within a second
            r = requests.post(url + "/models/demo/predict", json={"features": FEATURES}, timeout=10)
            if r.json().get("version") == v:
                break
            time.sleep(0.02)
        lag.append(time.time() - t0)
        time.sleep(0.1)
    stop_flag.set()
    for t in threads:
        t.join()
    bad = [r for r in results if r[0] != 200]
    versions = {r[1] for r in results if r[0] == 200}
    check(f"20 alias flips under load: {len(results)} requests, none failed", not bad and len(results) > 200,
          f"{len(bad)} failed, e.g. {bad[:3]}")
    check("every response is labelled with a valid version, and both served", versions == {1, 2}, versions)
    check("each alias move was noticed within a second", max(lag) < 1.0, f"max {max(lag):.2f} s")
    check("SIGTERM exits 0", stop(p) == 0)


# ---- memory over load/unload cycles -------------------------------------------------------

def big_model():
    path = os.path.join(SCRATCH, "big.json")
    subprocess.run(["/usr/bin/python3", "-c", f"""
import numpy as np, xgboost as xgb
rng = np.random.default_rng(7)
X = rng.normal(size=(10000, 30)); y = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(size=10000) > 0)
b = xgb.train({{"max_depth": 8, "eta": 0.1, "objective": "binary:logistic", "seed": 7}},
              xgb.DMatrix(X, label=y), num_boost_round=150)
b.save_model({path!r})
"""], check=True, timeout=300)
    out = os.path.join(SCRATCH, "big.kiln")
    r = kiln("import", path, "-o", out)
    assert r.returncode == 0, r.stderr
    return out


def memory_cycles():
    big = big_model()
    # model control needs a deployer key: made in a registry of its own, so that the other
    # servers of this harness stay unauthenticated
    env = dict(ENV, KILN_HOME=os.path.join(SCRATCH, "control-home"))
    key = subprocess.run([KILN, "keys", "create", "--name", "ops", "--role", "deployer"], env=env,
                         capture_output=True, text=True, timeout=60).stdout.strip()
    p, url = start("--model", f"big={big}", "--allow-model-control", env=env)
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + key

    def cycle():
        a = s.post(url + "/v2/repository/models/big/unload", timeout=30).status_code
        b = s.post(url + "/v2/repository/models/big/load", timeout=30).status_code
        return a == 200 and b == 200

    ok = all(cycle() for _ in range(5))  # warm up allocator arenas
    r = s.post(url + "/models/big/predict", json={"features": FEATURES}, timeout=10)
    before = rss_kib(p.pid)
    cycles = 20 if ASAN else 200
    for _ in range(cycles):
        ok = cycle() and ok
    r2 = s.post(url + "/models/big/predict", json={"features": FEATURES}, timeout=10)
    after = rss_kib(p.pid)
    check(f"{cycles} load/unload cycles all succeed and the model still answers the same",
          ok and r2.status_code == 200 and r2.json()["probabilities"] == r.json()["probabilities"])
    if ASAN:
        print("skip resident memory check: AddressSanitizer quarantines freed memory")
    else:
        check(f"resident memory after 200 cycles within 5% ({before} KiB -> {after} KiB)",
              after <= before * 1.05, f"{after / before:.3f}x")
    unloaded = s.post(url + "/v2/repository/models/big/unload", timeout=30).status_code == 200
    gone = s.post(url + "/models/big/predict", json={"features": FEATURES}, timeout=10).status_code
    check("an unloaded model answers 404", unloaded and gone == 404, gone)
    check("SIGTERM exits 0", stop(p) == 0)


# ---- SIGHUP reloads a replaced file --------------------------------------------------------

def sighup_reload():
    a = os.path.join(SCRATCH, "a.kiln")
    kiln("import", os.path.join(ROOT, "examples/demo/model.json"), "-o", a)
    live = os.path.join(SCRATCH, "live.kiln")
    os.link(a, live) if not os.path.exists(live) else None
    p, url = start("--model", f"m={live}")
    first = requests.post(url + "/models/m/predict", json={"features": FEATURES}).json()
    big = os.path.join(SCRATCH, "big.kiln")
    tmp = live + ".new"
    with open(big, "rb") as f, open(tmp, "wb") as g:
        g.write(f.read())
    os.rename(tmp, live)
    p.send_signal(signal.SIGHUP)
    changed = False
    for _ in range(50):
        now = requests.post(url + "/models/m/predict", json={"features": FEATURES}).json()
        if now.get("probabilities") != first.get("probabilities"):
            changed = True
            break
        time.sleep(0.05)
    check("SIGHUP reloads a replaced package file", changed)
    check("SIGTERM exits 0", stop(p) == 0)


# ---- SIGTERM drains requests in flight ----------------------------------------------------

def drain():
    big = os.path.join(SCRATCH, "big.kiln")
    p, url = start("--model", f"big={big}", "--set", "max_batch_rows=100000", "--threads", "2",
                   "--set", "shutdown_timeout_s=120")  # sanitizer builds score slowly
    batch = {"instances": [FEATURES] * (20000 if ASAN else 60000)}
    body = json.dumps(batch)
    results = []

    def slow():
        try:
            r = requests.post(url + "/models/big/predict", data=body,
                              headers={"Content-Type": "application/json"}, timeout=60)
            results.append(r.status_code)
        except Exception as e:
            results.append(str(e))

    ts = [threading.Thread(target=slow) for _ in range(2)]
    for t in ts:
        t.start()
    time.sleep(0.3)  # both requests are being read or scored
    p.send_signal(signal.SIGTERM)
    time.sleep(0.1)
    refused = False
    try:
        requests.get(url + "/health", timeout=2)
    except requests.exceptions.ConnectionError:
        refused = True
    for t in ts:
        t.join()
    code = p.wait(timeout=60)
    check("SIGTERM: requests in flight finish with 200", results == [200, 200], results)
    check("SIGTERM: new connections are refused while draining", refused)
    check("SIGTERM: exit code 0 after draining", code == 0, code)


# ---- throughput features and configuration -------------------------------------------------

def features_and_config():
    import csv
    with open(os.path.join(ROOT, "examples/demo/patients.csv")) as f:
        rows = [[float(x) for x in r] for r in list(csv.reader(f))[1:21]]
    a = os.path.join(SCRATCH, "a.kiln")
    plain, url0 = start("--model", f"m={a}")
    want = [requests.post(url0 + "/models/m/predict", json={"features": r}).json() for r in rows]
    stop(plain)
    cfg = os.path.join(SCRATCH, "kiln.yaml")
    with open(cfg, "w") as f:
        f.write(f"models:\n  m: {a}\nthroughput:\n  cache_bytes: 1048576\n  batch_max: 8\n"
                "  batch_delay_us: 100\nlimits:\n  max_batch_rows: 5\n")
    p, url = start("--config", cfg)
    got = []

    def worker(chunk):
        s = requests.Session()
        for _ in range(3):  # repeats hit the cache
            for r in chunk:
                got.append((rows.index(r), s.post(url + "/models/m/predict", json={"features": r}).json()))

    ts = [threading.Thread(target=worker, args=(rows[i::4],)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check("with the prediction cache and dynamic batching on, answers are identical",
          len(got) == 60 and all(g == want[i] for i, g in got), [g for g in got if g[1] != want[g[0]]][:2])
    big = requests.post(url + "/models/m/predict", json={"instances": rows[:6]})
    check("kiln.yaml limits apply (max_batch_rows: 5 -> 413 for 6 rows)", big.status_code == 413, big.status_code)
    stop(p)
    env_p = subprocess.run([KILN, "serve", "--config", cfg, "--listen", "bogus"], env=ENV,
                           capture_output=True, text=True, timeout=30)
    check("a bad --listen is a usage error (2) naming the setting", env_p.returncode == 2 and "listen" in env_p.stderr,
          env_p.stderr)
    with open(cfg, "a") as f:
        f.write("max_body_byte: 10\n")
    typo = subprocess.run([KILN, "serve", "--config", cfg], env=ENV, capture_output=True, text=True, timeout=30)
    check("a typo in kiln.yaml is refused, not ignored", typo.returncode == 1 and "max_body_byte" in typo.stderr,
          typo.stderr)
    bad_env = subprocess.run([KILN, "serve", "--model", f"m={a}"], env=dict(ENV, KILN_MAX_BATCH_ROWS="lots"),
                             capture_output=True, text=True, timeout=30)
    check("a bad KILN_* value is refused with its name", bad_env.returncode == 1 and "KILN_MAX_BATCH_ROWS" in bad_env.stderr,
          bad_env.stderr)


# ---- SIGHUP is a configuration change: audited, and an edited kiln.yaml is pointed out ------

def reload_audited():
    env = dict(ENV, KILN_HOME=os.path.join(SCRATCH, "audit-home"))
    a = os.path.join(SCRATCH, "a.kiln")
    reg = subprocess.run([KILN, "models", "register", a, "--name", "m", "--alias", "production"],
                         env=env, capture_output=True, text=True, timeout=60)
    check("a registry to audit into", reg.returncode == 0, reg.stderr)
    cfg = os.path.join(SCRATCH, "reload.yaml")
    with open(cfg, "w") as f:
        f.write("max_batch_rows: 50\n")
    p, url, log = serve(KILN, ["--config", cfg, "--serve", "m@production"],
                        os.path.join(SCRATCH, "reload.log"), env)

    def reloads():
        r = subprocess.run([KILN, "audit", "list", "--json"], env=env, capture_output=True,
                           text=True, timeout=60)
        return [x for x in json.loads(r.stdout or "[]") if x["action"] == "server.reload"]

    def sighup_and_wait(n):
        p.send_signal(signal.SIGHUP)
        for _ in range(100):
            if len(reloads()) >= n:
                return reloads()
            time.sleep(0.05)
        return reloads()

    got = sighup_and_wait(1)
    check("SIGHUP is audited: server.reload, ok, models reloaded, TLS off, by the user",
          len(got) == 1 and got[0]["outcome"] == "ok" and got[0]["actor"] == "tester" and
          got[0]["detail"] == "models reloaded; TLS off" and got[0]["object"].startswith("http://127.0.0.1:"),
          got)
    with open(cfg, "a") as f:
        f.write("max_body_bytes: 1000\n")
    got = sighup_and_wait(2)
    check("an edited kiln.yaml is not applied by SIGHUP, and the audit record says so",
          len(got) == 2 and "settings file changed since the start" in got[1]["detail"], got)
    check("… and the log tells the operator to restart",
          "restart kiln serve to apply it" in log_text(log), log_text(log)[-400:])
    big = requests.post(url + "/models/m/predict", data="x" * 2000, timeout=10)
    check("the running settings are unchanged (max_body_bytes not applied)", big.status_code != 413,
          big.status_code)
    check("SIGTERM exits 0", stop(p) == 0)
    v = subprocess.run([KILN, "audit", "verify"], env=env, capture_output=True, text=True, timeout=60)
    check("the audit log verifies", v.returncode == 0, v.stdout + v.stderr)


for case in (alias_flips, memory_cycles, sighup_reload, drain, features_and_config, reload_audited):
    try:
        case()
    except Exception as e:  # a crash of the harness is a failure, not a pass
        check(f"{case.__name__} ran to the end", False, repr(e))
finish()
