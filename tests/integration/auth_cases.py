"""auth_cases.py KILN SCRATCH ROOT — API keys and roles of `kiln serve`. Prints ok/FAIL per
check; exit status = failures."""
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time

import requests

KILN, SCRATCH, ROOT = sys.argv[1], sys.argv[2], sys.argv[3]
HOME = os.path.join(SCRATCH, "home")
ENV = dict(os.environ, KILN_HOME=HOME, KILN_USER="tester")
SECRETS = []
sys.path.insert(0, os.path.join(ROOT, "tests/lib"))
from kilntest import STARTED, check, finish, log_text, serve  # noqa: E402


def kiln(*args, env=None):
    return subprocess.run([KILN, *args], env=env or ENV, capture_output=True, text=True, timeout=120)


def key(name, role, *extra):
    r = kiln("keys", "create", "--name", name, "--role", role, "--json", *extra)
    k = json.loads(r.stdout)["key"] if r.returncode == 0 else ""
    SECRETS.append(k)
    return k


def start(*args, env=None):
    p, url, _ = serve(KILN, args, os.path.join(SCRATCH, f"serve-{len(STARTED)}.log"), env or ENV)
    return p, url


demo = os.path.join(SCRATCH, "demo.kiln")
kiln("import", os.path.join(ROOT, "examples/demo/model.json"), "-o", demo)
other = os.path.join(SCRATCH, "other.kiln")
kiln("import", os.path.join(ROOT, "examples/demo/model.json"), "-o", other)
ROW = json.load(open(os.path.join(ROOT, "examples/demo/request.json")))

# ---- keys on the command line ---------------------------------------------------------------
viewer, predictor = key("dash", "viewer"), key("app", "predictor")
deployer, admin = key("ops", "deployer"), key("root", "admin")
scoped = key("demo-only", "predictor", "--models", "demo")
check("keys create prints the key once, in the documented shape",
      all(re.fullmatch(r"kiln_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", k) for k in SECRETS), SECRETS)
lst = kiln("keys", "list", "--json")
listed = json.loads(lst.stdout) if lst.returncode == 0 else []
check("keys list shows names, roles and state but never a secret or hash",
      {k["name"]: k["role"] for k in listed} == {"dash": "viewer", "app": "predictor", "ops": "deployer",
                                                  "root": "admin", "demo-only": "predictor"} and
      not any(s[-43:] in lst.stdout for s in SECRETS) and "argon2" not in lst.stdout, lst.stdout)
db = sqlite3.connect(os.path.join(HOME, "registry.db"))
hashes = [h for (h,) in db.execute("SELECT hash FROM api_keys")]
db.close()
check("the registry holds argon2id hashes only", len(hashes) == 5 and all(h.startswith("$argon2id$") for h in hashes))
dup = kiln("keys", "create", "--name", "app", "--role", "viewer")
check("a duplicate name is refused (exit 1)", dup.returncode == 1 and "exists already" in dup.stderr, dup.stderr)
bad = kiln("keys", "create", "--name", "x", "--role", "superuser")
check("an unknown role is refused", bad.returncode != 0 and "viewer, predictor, deployer or admin" in bad.stderr, bad.stderr)
bad = kiln("keys", "create", "--name", "x", "--role", "viewer", "--rate", "lots")
check("a malformed rate is refused", bad.returncode != 0 and "--rate" in bad.stderr, bad.stderr)

# ---- the role × endpoint matrix ------------------------------------------------------------
p, url = start("--model", f"demo={demo}", "--model", f"other={other}", "--allow-model-control",
               "--access-log", os.path.join(SCRATCH, "access.log"))
s = requests.Session()
ENDPOINTS = [  # (method, path, body, least role)
    ("GET", "/health", None, "viewer"),
    ("GET", "/metrics", None, "viewer"),
    ("GET", "/v2/models/demo", None, "viewer"),
    ("GET", "/v2/health/ready", None, "viewer"),
    ("GET", "/alerts", None, "viewer"),
    ("POST", "/predict", ROW, "predictor"),
    ("POST", "/models/demo/predict", ROW, "predictor"),
    ("POST", "/v2/models/demo/infer", {"inputs": [{"name": "input", "shape": [1, 30], "datatype": "FP64",
                                                   "data": ROW["features"]}]}, "predictor"),
    ("POST", "/feedback", {"request_id": "nope", "label": 1}, "predictor"),
    ("POST", "/v2/repository/index", {}, "deployer"),
]
ORDER = ["viewer", "predictor", "deployer", "admin"]
KEYS = {"viewer": viewer, "predictor": predictor, "deployer": deployer, "admin": admin}
bad_cells = []
for method, path, body, need in ENDPOINTS:
    for role, k in [(None, None)] + list(KEYS.items()):
        h = {"Authorization": "Bearer " + k} if k else {}
        r = s.request(method, url + path, json=body, headers=h, timeout=10)
        if role is None:
            want = 401
        elif ORDER.index(role) < ORDER.index(need):
            want = 403
        else:
            want = None  # allowed: anything but 401/403
        got = r.status_code
        if (want and got != want) or (not want and got in (401, 403)):
            bad_cells.append((method, path, role, got, r.text[:80]))
check(f"role x endpoint matrix: {len(ENDPOINTS)} endpoints x (none + 4 roles) give 401 / 403 / allowed",
      not bad_cells, bad_cells)
r = s.get(url + "/metrics")
check("401 says why and asks for a bearer token",
      r.status_code == 401 and r.headers.get("WWW-Authenticate", "").startswith("Bearer") and
      r.json()["error"] == "authentication failed: no credentials", (r.status_code, r.headers, r.text))
r = s.post(url + "/predict", json=ROW, headers={"Authorization": "Bearer " + viewer})
check("403 names the key, its role and the role needed",
      r.status_code == 403 and r.json()["error"] == "key 'dash' has role viewer; this endpoint needs predictor", r.text)
r = s.post(url + "/predict", json=ROW, headers={"X-API-Key": predictor})
check("X-API-Key works like Authorization: Bearer", r.status_code == 200, r.text)
wrong = predictor[:-1] + ("A" if predictor[-1] != "A" else "B")
r = s.post(url + "/predict", json=ROW, headers={"Authorization": "Bearer " + wrong})
check("a wrong secret for a real key id -> 401 wrong key", r.status_code == 401 and "wrong key" in r.text, r.text)
r = s.post(url + "/predict", json=ROW, headers={"Authorization": "Basic dXNlcjpwYXNz"})
check("other schemes -> 401", r.status_code == 401, r.text)
r = s.post(url + "/models/other/predict", json=ROW, headers={"Authorization": "Bearer " + scoped})
r2 = s.post(url + "/models/demo/predict", json=ROW, headers={"Authorization": "Bearer " + scoped})
check("a key limited to demo: other -> 403, demo -> 200", r.status_code == 403 and r2.status_code == 200,
      (r.status_code, r2.status_code))
t0 = time.time()
n_ok = sum(s.post(url + "/predict", json=ROW, headers={"Authorization": "Bearer " + predictor}).status_code == 200
           for _ in range(200))
per = (time.time() - t0) / 200
check(f"a checked key is remembered: 200 requests at {per * 1000:.2f} ms each (argon2id runs once)",
      n_ok == 200 and per < 0.02, per)
guesses = [predictor[:-6] + os.urandom(3).hex() for _ in range(40)]
t0 = time.time()
codes = [s.post(url + "/predict", json=ROW, headers={"Authorization": "Bearer " + g}).status_code
         for g in guesses]
per = (time.time() - t0) / len(guesses)
check(f"40 different wrong secrets for a key already checked: 401 at {per * 1000:.2f} ms each "
      "(no argon2id run, which takes 30+ ms)", codes == [401] * 40 and per < 0.01, (codes[:3], per))

# Guesses at a key nobody has used yet each need an argon2id run: those come from a budget (20
# at once, then 20 a second), beyond which the answer is 503 + Retry-After, not a verdict.
fresh = key("fresh", "predictor")
time.sleep(1.2)  # the server picks the new key up
guesses = [fresh[:-6] + os.urandom(3).hex() for _ in range(80)]
answers = []


def guess_some(chunk):
    with requests.Session() as g:
        for k in chunk:
            r = g.post(url + "/predict", json=ROW, headers={"Authorization": "Bearer " + k})
            answers.append((r.status_code, r.headers.get("Retry-After")))


t0 = time.time()
workers = [threading.Thread(target=guess_some, args=(guesses[i::4],)) for i in range(4)]
for w in workers:
    w.start()
for w in workers:
    w.join()
spent = time.time() - t0
checked = sum(1 for code, _ in answers if code == 401)
busy = [ra for code, ra in answers if code == 503]
check(f"80 guesses at a never-used key in {spent:.2f} s: {checked} argon2id checks (budget 20 + "
      f"20/s), {len(busy)} answered 503 with Retry-After",
      len(answers) == 80 and checked + len(busy) == 80 and checked <= 20 + 20 * spent + 2 and
      set(busy) <= {"1"},
      (checked, len(busy), spent))
time.sleep(1.1)
r = s.post(url + "/predict", json=ROW, headers={"Authorization": "Bearer " + fresh})
check("… and the key's holder gets in once the budget refills", r.status_code == 200, r.text)

# ---- the audit log ----------------------------------------------------------------------------
time.sleep(1.1)  # failure records: 10 at once, then 1 a second; the guesses above used them up
s.post(url + "/predict", json=ROW, headers={"Authorization": "Bearer " + wrong})
au = kiln("audit", "list", "--json")
records = json.loads(au.stdout) if au.returncode == 0 else []
by_action = {}
for rec in records:
    by_action.setdefault(rec["action"], []).append(rec)
check("key creation is audited (actor, object, role)",
      sorted(r["object"] for r in by_action.get("key.create", [])) == ["app", "dash", "demo-only", "fresh", "ops", "root"]
      and all(r["actor"] == "tester" for r in by_action["key.create"]), by_action.get("key.create"))
fails = by_action.get("auth.failure", [])
check("refused credentials are audited: address, outcome denied, the reason",
      fails and all(r["address"] == "127.0.0.1" and r["outcome"] == "denied" for r in fails) and
      any("no credentials" in r["detail"] for r in fails) and any("wrong key" in r["detail"] for r in fails),
      fails[:3])
t0 = time.time()
while time.time() - t0 < 3.0:  # 20 refused requests a second for 3 s
    s.post(url + "/predict", json=ROW)
    time.sleep(0.05)
time.sleep(1.1)
s.post(url + "/predict", json=ROW)
after = [r for r in json.loads(kiln("audit", "list", "--json").stdout or "[]")
         if r["action"] == "auth.failure"][len(fails):]
left_out = [int(m.group(1)) for r in after
            for m in [re.search(r"\((\d+) more failures before this one not recorded\)", r["detail"])] if m]
check("a flood of failures (20/s for 3 s) is recorded at most 10 at once, then 1 a second, and "
      "the next record counts the rest", 3 <= len(after) <= 16 and sum(left_out) >= 40,
      (len(after), left_out))
forb = by_action.get("auth.forbidden", [])
check("a key without the right is audited under its name",
      any(r["actor"] == "dash" and "POST /predict" in r["detail"] for r in forb), forb[:3])
ver = kiln("audit", "verify")
check("kiln audit verify: the chain is intact", ver.returncode == 0, ver.stdout + ver.stderr)

# ---- model control with a deployer key -------------------------------------------------------
D = {"Authorization": "Bearer " + deployer}
r1 = s.post(url + "/v2/repository/models/demo/unload", json={}, headers=D)
gone = s.post(url + "/models/demo/predict", json=ROW, headers={"Authorization": "Bearer " + admin}).status_code
r2 = s.post(url + "/v2/repository/models/demo/load", json={}, headers=D)
back = s.post(url + "/models/demo/predict", json=ROW, headers={"Authorization": "Bearer " + admin}).status_code
check("a deployer unloads (model gone) and loads again (model answers)",
      r1.status_code == 200 and gone in (404, 503) and r2.status_code == 200 and back == 200,
      (r1.status_code, gone, r2.status_code, back))
au = json.loads(kiln("audit", "list", "--json").stdout or "[]")
ctl = [(r["action"], r["actor"], r["object"], r["address"], r["outcome"]) for r in au
       if r["action"] in ("model.load", "model.unload")]
check("model unload and load are audited under the deployer's key name",
      ctl == [("model.unload", "ops", "demo", "127.0.0.1", "ok"), ("model.load", "ops", "demo", "127.0.0.1", "ok")], ctl)
with open(os.path.join(SCRATCH, "access.log")) as f:
    callers = [json.loads(line).get("caller") for line in f if line.strip()]
check("the access log names the caller of each authenticated request",
      "app" in callers and "ops" in callers and None in callers, set(callers))
check("a predictor may not unload", s.post(url + "/v2/repository/models/demo/unload", json={},
                                           headers={"Authorization": "Bearer " + predictor}).status_code == 403)

# ---- changes take effect on the running server ----------------------------------------------
def status_with(k):
    return s.post(url + "/predict", json=ROW, headers={"Authorization": "Bearer " + k}).status_code


kiln("keys", "revoke", "app")
time.sleep(1.2)
check("a revoked key is refused within a second (401 key revoked)", status_with(predictor) == 401)
rot = kiln("keys", "rotate", "demo-only", "--grace", "2s", "--json")
new = json.loads(rot.stdout)["key"] if rot.returncode == 0 else ""
SECRETS.append(new)
time.sleep(1.2)
r_old, r_new = s.post(url + "/models/demo/predict", json=ROW, headers={"Authorization": "Bearer " + scoped}), \
    s.post(url + "/models/demo/predict", json=ROW, headers={"Authorization": "Bearer " + new})
check("after rotate both the old (grace period) and the new secret work",
      r_old.status_code == 200 and r_new.status_code == 200, (r_old.text, r_new.text))
time.sleep(2.0)
r_old = s.post(url + "/models/demo/predict", json=ROW, headers={"Authorization": "Bearer " + scoped})
check("after the grace period the old secret is refused", r_old.status_code == 401 and "grace" in r_old.text, r_old.text)
short = key("brief", "predictor", "--expires", "2s")
time.sleep(1.0)
ok_before = status_with(short)
time.sleep(2.0)
r = s.post(url + "/predict", json=ROW, headers={"Authorization": "Bearer " + short})
check("an expiring key works, then is refused as expired", ok_before == 200 and r.status_code == 401 and
      "expired" in r.text, (ok_before, r.text))
with open(os.path.join(SCRATCH, "metrics.txt"), "w") as f:  # searched for secrets at the end
    f.write(s.get(url + "/metrics", headers={"X-API-Key": admin}).text)
p.terminate()
p.wait(timeout=30)

# ---- secure defaults --------------------------------------------------------------------------
empty = dict(ENV, KILN_HOME=os.path.join(SCRATCH, "empty"))
r = subprocess.run([KILN, "serve", "--listen", "0.0.0.0:0", "--model", f"demo={demo}"], env=empty,
                   capture_output=True, text=True, timeout=30)
check("no keys + a non-loopback address: refuses to start, says how to fix it",
      r.returncode == 1 and "refusing to listen on 0.0.0.0:0 without authentication" in r.stderr and
      "--insecure" in r.stderr, r.stderr)
p2, url2 = start("--listen", "0.0.0.0:0", "--model", f"demo={demo}", "--insecure", env=empty)
check("--insecure starts it anyway", requests.get(url2.replace("0.0.0.0", "127.0.0.1") + "/health").status_code == 200)
p2.terminate()
p2.wait(timeout=30)
p3, url3 = start("--model", f"demo={demo}", "--set", "auth_required=true", env=empty)
check("auth_required: true with no key refuses every request (401)",
      requests.get(url3 + "/health").status_code == 401)
p3.terminate()
p3.wait(timeout=30)
p4, url4 = start("--listen", "0.0.0.0:0", "--model", f"demo={demo}")
check("with keys, a non-loopback address is allowed",
      requests.get(url4.replace("0.0.0.0", "127.0.0.1") + "/health", headers={"X-API-Key": viewer}).status_code == 200)
p4.terminate()
p4.wait(timeout=30)
p7, url7 = start("--model", f"demo={demo}", "--set", "auth_open_probes=true")
got = {path: requests.get(url7 + path).status_code
       for path in ("/health", "/v2/health/live", "/v2/health/ready", "/v2", "/metrics")}
check("auth_open_probes: the three health probes answer without credentials, nothing else does",
      got == {"/health": 200, "/v2/health/live": 200, "/v2/health/ready": 200, "/v2": 401,
              "/metrics": 401}, got)
check("… and /predict still needs a key",
      requests.post(url7 + "/predict", json=ROW).status_code == 401)
p7.terminate()
p7.wait(timeout=30)

# ---- JWT bearer tokens (minted with PyJWT) ----------------------------------------------------
import jwt as pyjwt

secret = os.urandom(32).hex()
with open(os.path.join(SCRATCH, "jwt.secret"), "w") as f:
    f.write(secret)
SECRETS.append(secret)
p5, url5 = start("--model", f"demo={demo}", "--set", "jwt_issuer=https://idp.example", "--set",
                 "jwt_audience=kiln", "--set", "jwt_algorithms=HS256", "--set",
                 f"jwt_key_file={os.path.join(SCRATCH, 'jwt.secret')}", env=empty)


def token(role="predictor", **over):
    claims = {"iss": "https://idp.example", "aud": "kiln", "sub": "svc-1", "role": role,
              "iat": int(time.time()), "exp": int(time.time()) + 300}
    claims.update(over)
    if role is None:
        del claims["role"]
    return pyjwt.encode(claims, secret, algorithm="HS256")


def jwt_status(tok, path="/predict"):
    return requests.post(url5 + path, json=ROW, headers={"Authorization": "Bearer " + tok}).status_code


none_tok = pyjwt.encode({"iss": "https://idp.example", "aud": "kiln", "role": "admin",
                         "exp": int(time.time()) + 300}, None, algorithm="none")
cases = {"a predictor token -> 200": (jwt_status(token()), 200),
         "a viewer token on /predict -> 403": (jwt_status(token("viewer")), 403),
         "a token without a role -> 403": (jwt_status(token(None)), 403),
         "an expired token -> 401": (jwt_status(token(exp=int(time.time()) - 120)), 401),
         "a not-yet-valid token -> 401": (jwt_status(token(nbf=int(time.time()) + 300)), 401),
         "another audience -> 401": (jwt_status(token(aud="other")), 401),
         "another issuer -> 401": (jwt_status(token(iss="https://evil.example")), 401),
         "alg none -> 401": (jwt_status(none_tok), 401),
         "a token signed with another secret -> 401":
             (jwt_status(pyjwt.encode({"iss": "https://idp.example", "aud": "kiln", "role": "admin",
                                       "exp": int(time.time()) + 300}, "x" * 32, algorithm="HS256")), 401)}
check("JWT: valid, viewer, role-less, expired, not-yet-valid, wrong audience / issuer, alg none, forged",
      all(got == want for got, want in cases.values()),
      {k: v for k, v in cases.items() if v[0] != v[1]})
p5.terminate()
p5.wait(timeout=30)

# Tokens limited like keys: a models claim (list or "a,b") and a rate claim, when configured.
p6, url6 = start("--model", f"demo={demo}", "--set", "jwt_issuer=https://idp.example", "--set",
                 "jwt_audience=kiln", "--set", "jwt_algorithms=HS256", "--set",
                 f"jwt_key_file={os.path.join(SCRATCH, 'jwt.secret')}", "--set",
                 "jwt_models_claim=kiln_models", "--set", "jwt_rate_claim=kiln_rate", env=empty)


def scoped(tok, path="/models/demo/predict"):
    return requests.post(url6 + path, json=ROW, headers={"Authorization": "Bearer " + tok},
                         timeout=10).status_code


cases = {"models claim naming the model -> 200": (scoped(token(kiln_models=["demo"])), 200),
         "models claim as a string list -> 200": (scoped(token(kiln_models="other,demo")), 200),
         "models claim without the model -> 403": (scoped(token(kiln_models=["other"])), 403),
         "… also through /predict's default model -> 403":
             (scoped(token(kiln_models="other"), "/predict"), 403),
         "an empty models claim -> 401, not 'every model'": (scoped(token(kiln_models=[])), 401),
         "a rate claim that is not a rate -> 401": (scoped(token(kiln_rate="fast")), 401)}
check("JWT models claim scopes a token like a key's --models; malformed claims refuse it",
      all(got == want for got, want in cases.values()),
      {k: v for k, v in cases.items() if v[0] != v[1]})
limited = token(kiln_rate="2/s", sub="svc-rate")
codes = [scoped(limited) for _ in range(8)]
check("JWT rate claim 2/s: the burst of 2 passes, the rest of a quick run of 8 are 429",
      codes[:2] == [200, 200] and codes.count(429) >= 5, codes)
check("another subject is not held back by that limit", scoped(token(sub="svc-other")) == 200)
p6.terminate()
p6.wait(timeout=30)

# ---- secrets never written -------------------------------------------------------------------
written = ""
for root, _, files in os.walk(SCRATCH):
    for f in files:
        if f.endswith((".log", ".db", ".db-wal", ".jsonl", ".txt")):
            with open(os.path.join(root, f), "rb") as fh:
                written += fh.read().decode("latin-1")
leaks = [k[:18] for k in SECRETS if k and (k in written or k[-43:] in written)]
check(f"no key appears in logs, /metrics or the registry ({len(written)} bytes searched)", not leaks and len(written) > 1000, leaks)

finish()
