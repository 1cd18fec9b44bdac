"""ratelimit_cases.py KILN SCRATCH ROOT — rate limits of `kiln serve` under concurrent load, on
127.0.0.1 (run by test_ratelimit.sh). Prints ok/FAIL per check and the measured counts; exit
status = failures.

Tolerance: a token bucket of rate R and burst B lets through R × T + B requests in T seconds;
the client measures T from its first to its last request, which differs from what the server
saw by a few milliseconds, so the counts must fall within ±15 % of R × T + B."""
import glob
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

import requests

KILN, SCRATCH, ROOT = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, os.path.join(ROOT, "tests/lib"))
from kilntest import STARTED, check, finish, log_text, serve, stop  # noqa: E402

HOME = os.path.join(SCRATCH, "home")
ENV = dict(os.environ, KILN_HOME=HOME, KILN_USER="tester")
TOLERANCE = 0.15


def kiln(*args, env=None):
    return subprocess.run([KILN, *args], env=env or ENV, capture_output=True, text=True, timeout=60)


def key(name, rate):
    r = kiln("keys", "create", "--name", name, "--role", "predictor", "--rate", rate, "--json")
    return json.loads(r.stdout)["key"] if r.returncode == 0 else ""


def start(*args, env=None):
    return serve(KILN, ["--access-log", "off", *args],
                 os.path.join(SCRATCH, f"serve-{len(STARTED)}.log"), env or ENV, timeout=20)


def hammer(urls, seconds, headers=None, threads_per_url=2, path="/v2"):
    """Threads sending GET path as fast as they can; returns (codes, retry_afters, bodies, T)."""
    codes, retry, bodies, lock = [], [], [], threading.Lock()
    first, last = [None], [0.0]
    stop = time.time() + seconds

    def run(url):
        s = requests.Session()
        while time.time() < stop:
            t = time.time()
            try:
                r = s.get(url + path, headers=headers or {}, timeout=5)
                code, ra, body = r.status_code, r.headers.get("Retry-After"), r.text
            except requests.RequestException as ex:
                code, ra, body = 0, None, str(ex)
            with lock:
                first[0] = t if first[0] is None else min(first[0], t)
                last[0] = max(last[0], t)
                codes.append(code)
                if code == 429:
                    retry.append(ra)
                    if len(bodies) < 5:
                        bodies.append(body)

    ts = [threading.Thread(target=run, args=(u,)) for u in urls for _ in range(threads_per_url)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return codes, retry, bodies, last[0] - first[0]


def within(what, got, rate, burst, elapsed):
    want = rate * elapsed + burst
    print(f"     {what}: {got} allowed in {elapsed:.2f} s, expected {want:.1f} ± {TOLERANCE:.0%}",
          flush=True)
    check(what, abs(got - want) <= TOLERANCE * want, f"{got} vs {want:.1f}")


def metric(url, name, headers=None):
    text = requests.get(url + "/metrics", headers=headers or {}, timeout=5).text
    m = re.search("^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_redis(*extra):
    port = free_port()
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--daemonize", "no", *extra],
                         stdout=open(os.path.join(SCRATCH, "redis.log"), "w"),
                         stderr=subprocess.STDOUT)
    STARTED.append(p)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as c:
                c.sendall(b"PING\r\n")
                if c.recv(64)[:1] in (b"+", b"-"):  # PONG, or NOAUTH with a password
                    return p, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not start")


demo = os.path.join(SCRATCH, "demo.kiln")
kiln("import", os.path.join(ROOT, "examples/demo/model.json"), "-o", demo)

# ---- settings are checked when serve starts -------------------------------------------------
for setting, value in [("rate_limit_viewer", "fast"), ("rate_limit_burst", "0"),
                       ("rate_limit_redis", "redis://:secret@127.0.0.1:1")]:
    r = kiln("serve", "--listen", "127.0.0.1:0", "--model", f"demo={demo}", "--set",
             f"{setting}={value}")
    check(f"serve refuses a bad {setting} with a message naming it",
          r.returncode != 0 and setting in r.stderr, r.stderr[-300:])

# ---- a key with --rate 20/s under 4 threads for 3 s -----------------------------------------
app = key("app", "20/s")
check("keys create --rate 20/s", app.startswith("kiln_"))
AUTH = {"Authorization": f"Bearer {app}"}
server, url, _ = start("--model", f"demo={demo}")
health = []
prober = threading.Thread(target=lambda: [health.append(requests.get(
    url + "/health", headers=AUTH, timeout=5).status_code) or time.sleep(0.05) for _ in range(40)])
prober.start()
codes, retry, bodies, elapsed = hammer([url], 3.0, AUTH, threads_per_url=4)
prober.join()
ok, limited = codes.count(200), codes.count(429)
within("per-key limit 20/s (burst 20) holds under 4 concurrent threads", ok, 20, 20, elapsed)
check("every other request is a 429", ok + limited == len(codes) and limited > 100,
      {c: codes.count(c) for c in set(codes)})
check("every 429 has Retry-After in whole seconds >= 1",
      retry and all(r is not None and r.isdigit() and int(r) >= 1 for r in retry), retry[:5])
check("the 429 body is JSON naming the limit",
      bodies and all(json.loads(b)["error"].startswith("rate limit exceeded: key 'app' may make "
                                                       "20/s") for b in bodies), bodies[:1])
check("health probes are never rate limited", health and set(health) == {200}, set(health))
time.sleep(1.1)  # a token for /metrics itself
check("kiln_rate_limited_total{scope=\"key\"} counts the 429s",
      metric(url, 'kiln_rate_limited_total{scope="key"}', AUTH) == limited,
      metric(url, 'kiln_rate_limited_total{scope="key"}', AUTH))
time.sleep(0.2)
check("kiln_errors_total{reason=\"rate_limited\"} counts them too",
      (metric(url, 'kiln_errors_total{reason="rate_limited"}', AUTH) or 0) >= limited)
check("the server stops cleanly (SIGTERM, exit 0)", stop(server, 15) == 0)

# ---- per client address on a server without authentication ---------------------------------
open_env = dict(ENV, KILN_HOME=os.path.join(SCRATCH, "open-home"))
server, url, _ = start("--model", f"demo={demo}", "--set", "rate_limit_per_address=10/s",
                       env=open_env)
codes, retry, bodies, elapsed = hammer([url], 2.0, threads_per_url=2)
within("per-address limit 10/s (burst 10) without authentication", codes.count(200), 10, 10,
       elapsed)
check("the rest are 429 with Retry-After",
      codes.count(429) == len(codes) - codes.count(200) and all(r and int(r) >= 1 for r in retry))
check("the 429 names the address",
      bodies and "address 127.0.0.1 may make 10/s" in json.loads(bodies[0])["error"], bodies[:1])
check("/health answers 200 while the address is limited",
      all(requests.get(url + "/health", timeout=5).status_code == 200 for _ in range(30)))
check("the server stops cleanly (SIGTERM, exit 0)", stop(server, 15) == 0)

# ---- two instances sharing one budget through Redis ------------------------------------------
redis, rport = start_redis()
shared = key("shared", "20/s")
AUTH = {"Authorization": f"Bearer {shared}"}
rset = ["--set", f"rate_limit_redis=redis://127.0.0.1:{rport}"]
a, url_a, _ = start("--model", f"demo={demo}", *rset)
b, url_b, log_b = start("--model", f"demo={demo}", *rset)
codes, retry, _, elapsed = hammer([url_a, url_b], 3.0, AUTH, threads_per_url=2)
within("two instances sharing Redis enforce one combined 20/s budget", codes.count(200), 20, 20,
       elapsed)
check("both instances answered, only 200 and 429", set(codes) <= {200, 429} and len(codes) > 200,
      {c: codes.count(c) for c in set(codes)})

# ---- Redis stops mid-run: local buckets take over (fail open to per-instance limits) ---------
redis.kill()
redis.wait()
codes, retry, _, elapsed = hammer([url_b], 2.0, AUTH, threads_per_url=2)
print(f"     Redis down: {codes.count(200)} allowed, {codes.count(429)} limited on one instance "
      f"in {elapsed:.2f} s", flush=True)
check("with Redis down the server keeps answering, only 200 and 429",
      codes and set(codes) <= {200, 429}, {c: codes.count(c) for c in set(codes)})
within("with Redis down the instance enforces the limit with its own buckets",
       codes.count(200), 20, 20, elapsed)
time.sleep(1.1)
errors = metric(url_b, "kiln_rate_limit_redis_errors_total", AUTH)
check("kiln_rate_limit_redis_errors_total counts the failures", errors and errors >= 1, errors)
check("a warning about Redis is logged, once, not per request",
      log_text(log_b).count("rate limiting: Redis at 127.0.0.1") == 1)
check("both servers stop cleanly (SIGTERM, exit 0)", stop(a, 15) == 0 and stop(b, 15) == 0)

# ---- a Redis with a password: AUTH from rate_limit_redis_password_file -----------------------
PASSWORD = "pw-" + os.urandom(12).hex()
redis, rport = start_redis("--requirepass", PASSWORD)
for name, text in [("redis.pass", PASSWORD + "\n"), ("wrong.pass", "not-the-password\n")]:
    with open(os.path.join(SCRATCH, name), "w") as f:
        f.write(text)
    os.chmod(os.path.join(SCRATCH, name), 0o600)
rset = ["--set", f"rate_limit_redis=redis://127.0.0.1:{rport}",
        "--set", "rate_limit_redis_password_file=" + os.path.join(SCRATCH, "redis.pass")]
a, url_a, log_a = start("--model", f"demo={demo}", *rset)
b, url_b, log_b = start("--model", f"demo={demo}", *rset)
time.sleep(1.1)  # the shared key's bucket refills from the run above
codes, retry, _, elapsed = hammer([url_a, url_b], 2.0, AUTH, threads_per_url=2)
within("with AUTH, two instances still share one 20/s budget (no fallback to local buckets)",
       codes.count(200), 20, 20, elapsed)
check("no Redis warning with the right password",
      "Redis at" not in log_text(log_a) + log_text(log_b), log_text(log_a)[-300:])
check("both servers stop cleanly", stop(a, 15) == 0 and stop(b, 15) == 0)
wrong = ["--set", f"rate_limit_redis=redis://127.0.0.1:{rport}",
         "--set", "rate_limit_redis_password_file=" + os.path.join(SCRATCH, "wrong.pass")]
c, url_c, log_c = start("--model", f"demo={demo}", *wrong)
r = requests.post(url_c + "/models/demo/predict", headers=AUTH, timeout=5,
                  json={"features": [0.5] * 4})
check("a wrong Redis password: the warning gives Redis's reason (WRONGPASS), serving goes on",
      "AUTH: WRONGPASS" in log_text(log_c) and r.status_code in (200, 400, 422, 429),
      log_text(log_c)[-300:])
check("the server stops cleanly", stop(c, 15) == 0)
redis.kill()
redis.wait()
logs = "".join(open(f).read() for f in glob.glob(os.path.join(SCRATCH, "*.log")))
check("the Redis password is in no log", PASSWORD not in logs and "not-the-password" not in logs)

finish()
