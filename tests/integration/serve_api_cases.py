# serve_api_cases.py — the HTTP API of a running `kiln serve`, as clients see it (run by
# test_serve_api.sh, which starts the servers): the seed's /health and /predict (and that its
# answers equal `kiln predict`), /models/NAME[/versions/V]/predict with array, object and batch
# rows, bad input of every kind (status code and JSON error body, server still up), hostile
# traffic on raw sockets (garbage, slow headers, idle, huge headers, pipelining, half-close,
# oversized bodies with Content-Length and chunked), X-Request-Id and the access log, the Open
# Inference Protocol v2 endpoints with model control, and GET /openapi.json against the route
# table in src/serve/router.c.
#
# Prints one "ok   …", "FAIL …" or "skip …" line per check; exits 1 when any check failed.
import argparse
import csv
import json
import os
import re
import select
import socket
import subprocess
import sys
import time

import requests

ap = argparse.ArgumentParser()
ap.add_argument("--url", required=True)        # the server under test (model control on)
ap.add_argument("--url2", required=True)       # a second server, model control off
ap.add_argument("--access-log", required=True)
ap.add_argument("--kiln", required=True)
ap.add_argument("--model", required=True)      # demo.kiln
ap.add_argument("--csv", required=True)        # examples/demo/patients.csv
ap.add_argument("--router", required=True)     # src/serve/router.c
ap.add_argument("--idle", type=float, default=2.0)
ap.add_argument("--max-body", type=int, default=65536)
ap.add_argument("--max-rows", type=int, default=100)
args = ap.parse_args()
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../lib"))
from kilntest import check_call, expect, finish  # noqa: E402

URL, URL2 = args.url.rstrip("/"), args.url2.rstrip("/")
HOST, PORT = re.match(r"http://([^:/]+):(\d+)", URL).groups()
PORT = int(PORT)
T = 10  # seconds: every client call is bounded

def post(path, body=None, raw=None, headers=None, url=URL):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    if raw is not None:
        return requests.post(url + path, data=raw, headers=h, timeout=T)
    return requests.post(url + path, json=body, headers=h, timeout=T)


def get(path, url=URL, headers=None):
    return requests.get(url + path, headers=headers or {}, timeout=T)


def error_body(r, status, *words):
    """The response has `status` and a JSON body {"error": "<non-empty>"} naming the problem."""
    statuses = status if isinstance(status, tuple) else (status,)
    expect(r.status_code in statuses,
           f"status {r.status_code}, wanted {' or '.join(map(str, statuses))}: {r.text[:300]}")
    try:
        d = json.loads(r.content.decode("utf-8"))  # JSON text is UTF-8 (RFC 8259 8.1)
    except ValueError:
        raise AssertionError(f"error body is not UTF-8 JSON: {r.content[:300]!r}")
    expect(isinstance(d, dict) and isinstance(d.get("error"), str) and d["error"],
           f"error body is not {{\"error\": \"...\"}}: {r.text[:300]}")
    for w in words:
        expect(w.lower() in d["error"].lower(), f"error {d['error']!r} does not mention {w!r}")
    ct = r.headers.get("Content-Type", "")
    expect(ct.startswith("application/json"), f"error Content-Type is {ct!r}")
    return True


def healthy(url=URL):
    r = get("/health", url)
    return r.status_code == 200 and r.json() == {"status": "healthy"}


# ---- fixtures: feature names, rows from patients.csv, kiln predict's answers ----------------
info = json.loads(subprocess.run([args.kiln, "inspect", args.model, "--json"], check=True,
                                 capture_output=True, text=True).stdout)
FEATURES = [f["name"] for f in info["features"]]
NF = len(FEATURES)
with open(args.csv, newline="") as f:
    rdr = csv.DictReader(f)
    CSV_ROWS = [[float(r[n]) for n in FEATURES] for r in rdr]
pred_csv = os.path.join(os.getcwd(), "kiln_predict.csv")
subprocess.run([args.kiln, "predict", args.model, "--input", args.csv, "--output", pred_csv],
               check=True, capture_output=True)
with open(pred_csv, newline="") as f:
    EXPECTED = [(r["prediction"], float(r["proba_0"]), float(r["proba_1"])) for r in csv.DictReader(f)]
ROW = CSV_ROWS[0]


def read_response(s, pending=b"", deadline=T):
    """Reads one HTTP/1.1 response with a Content-Length body, starting from bytes already
    received: (status, headers, body, leftover bytes)."""
    s.settimeout(deadline)
    data = pending
    while b"\r\n\r\n" not in data:
        d = s.recv(65536)
        if not d:
            raise AssertionError(f"connection closed mid-response: {data[:200]!r}")
        data += d
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            raise AssertionError("connection closed mid-body")
        rest += d
    return status, hdrs, rest[:n], rest[n:]


def read_all(s, limit):
    """Reads until EOF or `limit` seconds; returns (bytes, closed)."""
    s.settimeout(0.2)
    end = time.time() + limit
    got = b""
    while time.time() < end:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return got, True
        if not d:
            return got, True
        got += d
    return got, False


# ---- the seed's contract --------------------------------------------------------------------
def seed_health():
    r = get("/health")
    expect(r.status_code == 200, r.status_code)
    expect(r.json() == {"status": "healthy"}, r.text)


def seed_predict_shape():
    r = post("/predict", {"features": ROW})
    expect(r.status_code == 200, f"{r.status_code} {r.text}")
    d = r.json()
    expect(set(d) == {"prediction", "confidence"}, f"keys {sorted(d)}")
    expect(type(d["prediction"]) in (int, float) and d["prediction"] in (0, 1),
           f"prediction {d['prediction']!r} is not the number 0 or 1")
    expect(isinstance(d["confidence"], float) and 0.5 <= d["confidence"] <= 1.0,
           f"confidence {d['confidence']!r}")


def seed_matches_kiln_predict():
    n = min(20, len(CSV_ROWS))
    for i in range(n):
        d = post("/predict", {"features": CSV_ROWS[i]}).json()
        label, p0, p1 = EXPECTED[i]
        expect(d["prediction"] == int(label), f"row {i}: {d['prediction']} vs {label}")
        expect(abs(d["confidence"] - max(p0, p1)) <= 1e-12,
               f"row {i}: confidence {d['confidence']!r} vs {max(p0, p1)!r}")
    return True


check_call("seed: GET /health -> {\"status\":\"healthy\"}", seed_health)
check_call("seed: POST /predict 30 numbers -> prediction 0|1 (number), confidence in [0.5,1]",
           seed_predict_shape)
check_call("seed: /predict equals `kiln predict` on patients.csv (20 rows, label and max proba 1e-12)",
           seed_matches_kiln_predict)


# ---- /models/NAME/predict -------------------------------------------------------------------
def model_array():
    r = post("/models/demo/predict", {"features": ROW})
    expect(r.status_code == 200, f"{r.status_code} {r.text}")
    d = r.json()
    expect(d.get("model") == "demo" and d.get("version") == 1, r.text)
    label, p0, p1 = EXPECTED[0]
    expect(d["prediction"] == int(label), r.text)
    expect(len(d["probabilities"]) == 2 and abs(d["probabilities"][0] - p0) <= 1e-12
           and abs(d["probabilities"][1] - p1) <= 1e-12, r.text)


def model_object():
    r = post("/models/demo/predict", {"features": dict(zip(FEATURES, ROW))})
    expect(r.status_code == 200, f"{r.status_code} {r.text}")
    a = post("/models/demo/predict", {"features": ROW}).json()
    expect(r.json() == a, f"object {r.text} vs array {a}")
    # reversed key order must not matter
    rev = dict(reversed(list(zip(FEATURES, ROW))))
    expect(post("/models/demo/predict", {"features": rev}).json() == a, "key order changed it")


def model_batch():
    rows = CSV_ROWS[:5]
    r = post("/models/demo/predict", {"instances": rows})
    expect(r.status_code == 200, f"{r.status_code} {r.text}")
    d = r.json()
    expect(d.get("version") == 1 and len(d["predictions"]) == 5 and len(d["probabilities"]) == 5,
           r.text)
    for i in range(5):
        label, p0, p1 = EXPECTED[i]
        expect(d["predictions"][i] == int(label), f"row {i}")
        expect(abs(d["probabilities"][i][1] - p1) <= 1e-12, f"row {i} proba")


def model_version1():
    r = post("/models/demo/versions/1/predict", {"features": ROW})
    expect(r.status_code == 200 and r.json().get("version") == 1, f"{r.status_code} {r.text}")


check_call("POST /models/demo/predict with a feature array -> model, version 1, prediction, "
           "probabilities", model_array)
check_call("POST /models/demo/predict with an object keyed by feature name == the array answer",
           model_object)
check_call("POST /models/demo/predict with 5 instances -> 5 predictions and probabilities",
           model_batch)
check_call("POST /models/demo/versions/1/predict -> 200, version 1", model_version1)
check_call("POST /models/demo/versions/2/predict -> 404 JSON error",
           lambda: error_body(post("/models/demo/versions/2/predict", {"features": ROW}), 404, "demo"))
check_call("POST /models/nosuch/predict -> 404 JSON error naming the model",
           lambda: error_body(post("/models/nosuch/predict", {"features": ROW}), 404, "nosuch"))


# ---- bad input: right status, JSON error, server stays up -----------------------------------
row_text = ",".join(repr(v) for v in ROW[1:])
bad = [
    ("invalid JSON", "/predict", b'{"features": [1, 2,', 400, []),
    ("empty body", "/predict", b"", 400, []),
    ("JSON array instead of an object", "/predict", b"[" + row_text.encode() + b"]", 400, []),
    ("NaN token", "/predict", ('{"features":[NaN,' + row_text + "]}").encode(), 400, []),
    ("Infinity token", "/predict", ('{"features":[Infinity,' + row_text + "]}").encode(), 400, []),
    ("-Infinity token", "/predict", ('{"features":[-Infinity,' + row_text + "]}").encode(), 400, []),
    ("overflowing number 1e999", "/predict", ('{"features":[1e999,' + row_text + "]}").encode(),
     400, []),
    ("a string for a number", "/predict", ('{"features":["17.99",' + row_text + "]}").encode(),
     400, []),
    ("trailing garbage after the JSON", "/predict",
     ('{"features":[1,' + row_text + "]} x").encode(), 400, []),
    ("29 features", "/predict", ('{"features":[' + row_text + "]}").encode(), 422, ["30"]),
    ("31 features", "/predict", ('{"features":[1,1,' + row_text + "]}").encode(), 422, ["30"]),
    ("unknown feature name", "/models/demo/predict",
     json.dumps({"features": {"mean_radius": 1.0, "no_such_feature": 2.0}}).encode(), 422,
     ["no_such_feature"]),
    ("missing \"features\"", "/predict", b'{"rows": [1, 2, 3]}', 422, ["features"]),
    ("empty object", "/predict", b"{}", 422, ["features"]),
    ("deep nesting", "/predict", b'{"x":' + b"[" * 5000 + b"]" * 5000 + b"}", 400, []),
    (f"batch of {args.max_rows + 1} rows", "/models/demo/predict",
     json.dumps({"instances": [ROW] * (args.max_rows + 1)}).encode(), 413, [str(args.max_rows)]),
    ("invalid UTF-8 in a feature name", "/models/demo/predict",
     b'{"features": {"mean\xffradius": 1}}', (400, 422), []),
    ("invalid UTF-8 in an ignored member's string", "/predict",
     b'{"x": "\xff\xfe", "features": [1,' + row_text.encode() + b']}', 400, []),
    ("a raw control character in an ignored member's string", "/predict",
     b'{"x": "a\x01b", "features": [1,' + row_text.encode() + b']}', 400, []),
]
for what, path, raw, status, words in bad:
    check_call(f"bad input: {what} on {path} -> {status} JSON error, still healthy",
               lambda path=path, raw=raw, status=status, words=words:
               error_body(post(path, raw=raw), status, *words) and healthy())
check_call(f"bad input: batch of exactly {args.max_rows} rows is accepted",
           lambda: post("/models/demo/predict", {"instances": [ROW] * args.max_rows}).status_code == 200)


def big_body_content_length():
    pad = b" " * (args.max_body + 1000)
    return error_body(post("/predict", raw=b'{"features":[' + pad + b"]}"), 413,
                      str(args.max_body)) and healthy()


def big_body_announced_only():
    # Content-Length far over the limit, no body sent: refused at once, without reading it
    s = socket.create_connection((HOST, PORT), timeout=T)
    s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 100000000\r\n\r\n")
    status, hdrs, body, _ = read_response(s)
    s.close()
    expect(status == 413, f"status {status} {body[:200]!r}")
    expect("error" in json.loads(body), body)
    return healthy()


def big_body_chunked():
    def gen():
        yield b'{"features":['
        for _ in range(args.max_body // 4096 + 4):
            yield b" " * 4096
        yield b"]}"
    try:
        r = requests.post(URL + "/predict", data=gen(), timeout=T,
                          headers={"Content-Type": "application/json"})
    except requests.ConnectionError as e:
        raise AssertionError(f"no response, the connection was dropped: {e}")
    return error_body(r, 413, str(args.max_body)) and healthy()


def big_body_chunked_raw():
    # chunked on a raw socket: a 413 either early (mid-upload) or after the last chunk, never a
    # bare close
    s = socket.create_connection((HOST, PORT), timeout=T)
    s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    try:
        for _ in range(args.max_body // 4096 + 4):
            s.sendall(b"1000\r\n" + b" " * 4096 + b"\r\n")
            if select.select([s], [], [], 0.02)[0]:
                break
        else:
            s.sendall(b"0\r\n\r\n")
    except OSError:
        pass
    try:
        status, _, body, _ = read_response(s, deadline=5)
    except (OSError, AssertionError) as e:
        raise AssertionError(f"no response: {e}")
    finally:
        s.close()
    expect(status == 413 and "error" in json.loads(body), f"{status} {body[:200]!r}")
    return healthy()


check_call(f"body over {args.max_body} bytes with Content-Length -> 413 JSON error", big_body_content_length)
check_call("Content-Length: 100000000 announced (no body sent) -> 413 at once", big_body_announced_only)
check_call(f"body over {args.max_body} bytes, chunked (requests generator) -> 413 JSON error",
           big_body_chunked)
check_call(f"body over {args.max_body} bytes, chunked on a raw socket -> a 413 response, not a bare close",
           big_body_chunked_raw)


# ---- hostile traffic on raw sockets ---------------------------------------------------------
def garbage():
    for junk in (b"\x00\xff\x13\x10garbage\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" +
                 os.urandom(200), b"GET\r\n\r\n", b"FOO /health HTTP/9.9\r\n\r\n",
                 b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"):
        s = socket.create_connection((HOST, PORT), timeout=T)
        try:
            s.sendall(junk)
        except OSError:
            pass
        got, closed = read_all(s, args.idle + 3)
        s.close()
        expect(closed or got.startswith(b"HTTP/1.1 4"),
               f"{junk[:20]!r}: neither closed nor answered 4xx: {got[:120]!r}")
        expect(not got or re.match(rb"HTTP/1\.[01] (4\d\d|501|505)", got),
               f"{junk[:20]!r}: answered {got[:120]!r}")
        expect(healthy(), "not healthy after garbage")


def idle_connection():
    s = socket.create_connection((HOST, PORT), timeout=T)
    t0 = time.time()
    _, closed = read_all(s, args.idle + 3)
    s.close()
    expect(closed, f"an idle connection was still open after {args.idle + 3:.0f} s")
    return time.time() - t0 <= args.idle + 2


def slow_headers():
    # one header byte every 0.5 s, forever: the server must cut it off by idle_timeout_s + 2
    s = socket.create_connection((HOST, PORT), timeout=T)
    msg = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
    t0, limit = time.time(), args.idle + 2.5
    closed = False
    for b in msg:
        try:
            s.send(bytes([b]))
        except OSError:
            closed = True
            break
        r, _, _ = select.select([s], [], [], 0.5)
        if r:
            try:
                closed = s.recv(4096) == b"" or True
            except OSError:
                closed = True
            break
        if time.time() - t0 > limit:
            break
    s.close()
    expect(closed, f"a slow-header client (1 byte / 0.5 s) was still connected after "
                   f"{time.time() - t0:.1f} s (idle_timeout_s={args.idle:g})")
    return healthy()


def huge_header():
    s = socket.create_connection((HOST, PORT), timeout=T)
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    except OSError:
        pass
    got, closed = read_all(s, 5)
    s.close()
    expect(got.startswith(b"HTTP/1.1 431") or (closed and not got), f"got {got[:150]!r}")
    return healthy()


def many_headers():
    s = socket.create_connection((HOST, PORT), timeout=T)
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" +
                  b"".join(b"X-H%d: v\r\n" % i for i in range(3000)) + b"\r\n")
    except OSError:
        pass
    got, closed = read_all(s, 5)
    s.close()
    expect(got.startswith(b"HTTP/1.1 431") or (closed and not got), f"got {got[:150]!r}")
    return healthy()


def pipelined():
    s = socket.create_connection((HOST, PORT), timeout=T)
    s.sendall(b"".join(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: pipe-%d\r\n\r\n" % i
                       for i in range(3)))
    left, out = b"", []
    for _ in range(3):
        status, hdrs, body, left = read_response(s, left)
        out.append((status, hdrs.get("x-request-id"), body))
    s.close()
    expect([o[1] for o in out] == ["pipe-0", "pipe-1", "pipe-2"], f"order {out}")
    expect(all(o[0] == 200 and json.loads(o[2]) == {"status": "healthy"} for o in out), out)


def half_closed():
    s = socket.create_connection((HOST, PORT), timeout=T)
    body = json.dumps({"features": ROW}).encode()
    s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    s.shutdown(socket.SHUT_WR)
    status, _, resp, _ = read_response(s)
    s.close()
    expect(status == 200 and "prediction" in json.loads(resp), f"{status} {resp[:200]!r}")


def http10():
    s = socket.create_connection((HOST, PORT), timeout=T)
    s.sendall(b"GET /health HTTP/1.0\r\n\r\n")
    got, closed = read_all(s, 5)
    s.close()
    expect(re.match(rb"HTTP/1\.[01] 200", got) and got.endswith(b'{"status":"healthy"}') and closed,
           f"{got[:200]!r} closed={closed}")


def many_connections():
    socks = [socket.create_connection((HOST, PORT), timeout=T) for _ in range(50)]
    ok = healthy()
    for s in socks:
        s.close()
    return ok


check_call("garbage bytes, TLS hello, bare GET, HTTP/9.9, negative Content-Length -> closed or 4xx; "
           "still healthy", garbage)
check_call("an idle connection is closed within idle_timeout_s + 2 s", idle_connection)
check_call("slow headers (1 byte / 0.5 s) -> closed within idle_timeout_s + 2 s, never hangs",
           slow_headers)
check_call("a 20 KiB header -> 431 or a clean close; still healthy", huge_header)
check_call("3000 headers -> 431 or a clean close; still healthy", many_headers)
check_call("three pipelined GET /health in one write -> three responses, in order", pipelined)
check_call("request then shutdown(SHUT_WR) -> the response still arrives", half_closed)
check_call("HTTP/1.0 GET /health -> 200 and the connection closes", http10)
check_call("50 open idle connections do not stop /health", many_connections)
check_call("unknown path -> 404 JSON error naming it",
           lambda: error_body(get("/no/such/path"), 404, "/no/such/path"))
check_call("GET /predict -> 405 JSON error with Allow: POST",
           lambda: error_body(get("/predict"), 405) and get("/predict").headers.get("Allow") == "POST")
check_call("GET /%ff%fe (invalid UTF-8 path) -> 404 whose body is valid UTF-8 JSON",
           lambda: error_body(get("/%ff%fe"), 404))
check_call("POST /health -> 405 with Allow: GET",
           lambda: error_body(post("/health", {}), 405) and post("/health", {}).headers.get("Allow") == "GET")
check_call("a path with an over-long model name -> 404 JSON",
           lambda: error_body(post("/models/" + "m" * 300 + "/predict", {"features": ROW}), 404))


# ---- X-Request-Id and the access log --------------------------------------------------------
def rid_echo():
    r = post("/predict", {"features": ROW}, headers={"X-Request-Id": "kiln-test.rid_42"})
    expect(r.headers.get("X-Request-Id") == "kiln-test.rid_42", r.headers)


def rid_generated():
    a, b = get("/health").headers.get("X-Request-Id"), get("/health").headers.get("X-Request-Id")
    expect(a and b and a != b and re.fullmatch(r"[A-Za-z0-9._-]{1,64}", a), f"{a!r} {b!r}")


def rid_insane():
    for bad_id in ("has space", "x" * 65, "semi;colon", "quote\"id"):
        got = get("/health", headers={"X-Request-Id": bad_id}).headers.get("X-Request-Id")
        expect(got and got != bad_id and re.fullmatch(r"[A-Za-z0-9._-]{1,64}", got),
               f"{bad_id!r} -> {got!r}")


def security_headers():
    for r in (get("/health"), post("/predict", {"features": ROW}), get("/nosuch"),
              post("/predict", None, raw=b"{bad")):
        expect(r.headers.get("X-Content-Type-Options") == "nosniff" and
               r.headers.get("Cache-Control") == "no-store", (r.status_code, dict(r.headers)))
        expect("Strict-Transport-Security" not in r.headers, "HSTS over plain HTTP")


def access_log_line():
    rid = "alog-%d" % os.getpid()
    post("/models/demo/predict", {"features": ROW}, headers={"X-Request-Id": rid})
    post("/models/nosuch/predict", {"features": ROW}, headers={"X-Request-Id": rid + "-404"})
    lines = []
    for _ in range(30):  # the log is flushed within ~200 ms
        time.sleep(0.1)
        with open(args.access_log, encoding="utf-8", errors="replace") as f:
            lines = [json.loads(ln) for ln in f if rid in ln]
        if len(lines) >= 2:
            break
    mine = [ln for ln in lines if ln["request_id"] == rid]
    expect(len(mine) == 1, f"{len(mine)} lines for {rid}")
    d = mine[0]
    keys = {"time", "request_id", "method", "path", "status", "latency_us", "model", "version",
            "bytes_in", "bytes_out"}
    expect(keys <= set(d), f"missing {keys - set(d)}")
    expect(d["method"] == "POST" and d["path"] == "/models/demo/predict" and d["status"] == 200
           and d["model"] == "demo" and d["version"] == 1 and d["bytes_in"] > 100
           and d["bytes_out"] > 20 and isinstance(d["latency_us"], int)
           and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", d["time"]), d)
    e = [ln for ln in lines if ln["request_id"] == rid + "-404"]
    expect(len(e) == 1 and e[0]["status"] == 404, e)


def access_log_all_json():
    with open(args.access_log, "rb") as f:
        for i, ln in enumerate(f):
            try:
                json.loads(ln.decode("utf-8"))
            except ValueError:
                raise AssertionError(f"line {i + 1} is not UTF-8 JSON: {ln[:200]!r}")


check_call("X-Request-Id: a sane id is echoed", rid_echo)
check_call("X-Request-Id: absent -> a fresh id per request is returned", rid_generated)
check_call("X-Request-Id: an insane id (space, 65 chars, ;, \") is replaced, not echoed", rid_insane)
check_call("every answer, errors too, says nosniff and no-store; no HSTS over plain HTTP",
           security_headers)
check_call("access log: one JSON line per request with every field (known request id)",
           access_log_line)
check_call("access log: every line is UTF-8 JSON (after hostile paths too)", access_log_all_json)


# ---- Open Inference Protocol v2 -------------------------------------------------------------
oip_on = get("/v2/health/live").status_code != 501


def oip(fn):
    return (lambda: fn()) if oip_on else (lambda: "skip: /v2 endpoints answer 501")


def oip_health():
    expect(get("/v2/health/live").status_code == 200, "live")
    r = get("/v2/health/ready")
    expect(r.status_code == 200 and r.json().get("ready") is True, r.text)


def oip_server():
    d = get("/v2").json()
    expect(d.get("name") and d.get("version") and isinstance(d.get("extensions"), list), d)


def oip_model_meta():
    r = get("/v2/models/demo")
    expect(r.status_code == 200, r.text)
    d = r.json()
    expect(d["name"] == "demo" and d["inputs"][0]["shape"] == [-1, NF]
           and d["inputs"][0]["datatype"] == "FP64", d)
    names = [o["name"] for o in d["outputs"]]
    expect(names == ["predict", "predict_proba"], names)
    expect(get("/v2/models/demo/versions/1").status_code == 200, "versions/1")


def oip_model_ready():
    r = get("/v2/models/demo/ready")
    expect(r.status_code == 200 and r.json().get("ready") is True, r.text)


def tensor(rows, dtype):
    return {"name": "input-0", "shape": [len(rows), NF], "datatype": dtype,
            "data": [v for row in rows for v in row]}


def oip_infer_fp64():
    r = post("/v2/models/demo/infer", {"id": "req-7", "inputs": [tensor([ROW], "FP64")]})
    expect(r.status_code == 200, r.text)
    d = r.json()
    expect(d.get("id") == "req-7" and d.get("model_name") == "demo", d)
    out = {o["name"]: o for o in d["outputs"]}
    seed = post("/predict", {"features": ROW}).json()
    expect(out["predict"]["data"] == [seed["prediction"]], out["predict"])
    expect(out["predict_proba"]["shape"] == [1, 2], out["predict_proba"])
    expect(abs(max(out["predict_proba"]["data"]) - seed["confidence"]) <= 1e-12, out)


def oip_infer_fp32():
    import struct
    rows = [[struct.unpack("f", struct.pack("f", v))[0] for v in r] for r in CSV_ROWS[1:3]]
    r = post("/v2/models/demo/infer", {"inputs": [tensor(rows, "FP32")]})
    expect(r.status_code == 200, r.text)
    out = {o["name"]: o for o in r.json()["outputs"]}
    expect(out["predict"]["shape"] == [2], out["predict"])
    b = post("/models/demo/predict", {"instances": rows}).json()
    expect(out["predict"]["data"] == b["predictions"], f"{out['predict']} vs {b}")
    flat = [p for pr in b["probabilities"] for p in pr]
    expect(all(abs(x - y) <= 1e-12 for x, y in zip(out["predict_proba"]["data"], flat)), out)


def oip_outputs_selection():
    r = post("/v2/models/demo/infer", {"inputs": [tensor([ROW], "FP64")],
                                        "outputs": [{"name": "predict_proba"}]})
    expect(r.status_code == 200, r.text)
    expect([o["name"] for o in r.json()["outputs"]] == ["predict_proba"], r.text)
    error_body(post("/v2/models/demo/infer", {"inputs": [tensor([ROW], "FP64")],
                                               "outputs": [{"name": "nope"}]}), 400, "nope")


def oip_per_feature():
    r = post("/v2/models/demo/infer", {"inputs": [
        {"name": n, "shape": [1], "datatype": "FP64", "data": [v]} for n, v in zip(FEATURES, ROW)]})
    expect(r.status_code == 200, r.text)
    seed = post("/predict", {"features": ROW}).json()
    expect(r.json()["outputs"][0]["data"] == [seed["prediction"]], r.text)


def oip_bad():
    t = tensor([ROW], "FP64")
    t["shape"] = [1, NF - 1]
    t["data"] = t["data"][:-1]
    error_body(post("/v2/models/demo/infer", {"inputs": [t]}), 400)
    t2 = tensor([ROW], "FP64")
    t2["shape"] = [2, NF]  # data too short for the shape
    error_body(post("/v2/models/demo/infer", {"inputs": [t2]}), 400)
    error_body(post("/v2/models/demo/infer", raw=b'{"inputs": ['), 400)
    error_body(post("/v2/models/demo/infer", {"inputs": [tensor([ROW] * (args.max_rows + 1),
                                                                "FP64")]}), 413)
    return healthy()


def oip_unknown():
    error_body(post("/v2/models/nosuch/infer", {"inputs": [tensor([ROW], "FP64")]}), 404, "nosuch")
    error_body(get("/v2/models/nosuch"), 404)
    error_body(get("/v2/models/nosuch/ready"), 404)
    error_body(get("/v2/models/demo/versions/2"), 404)


def ready_state():
    r = get("/v2/models/demo/ready")
    if r.status_code == 200:
        return r.json().get("ready") is True
    return False


def oip_control():
    # With no API key the model-control endpoints refuse to run even with --allow-model-control
    # (the load / unload cycle with a deployer key is in test_auth.sh).
    for path in ("/v2/repository/index", "/v2/repository/models/demo/unload",
                 "/v2/repository/models/demo/load"):
        r = post(path, {})
        expect(r.status_code == 401 and r.headers.get("WWW-Authenticate", "").startswith("Bearer")
               and "kiln keys create" in r.json()["error"], f"{path}: {r.status_code} {r.text}")
    expect(ready_state(), "still ready")


def oip_control_forbidden():
    error_body(post("/v2/repository/models/demo/load", {}, url=URL2), 403)
    error_body(post("/v2/repository/models/demo/unload", {}, url=URL2), 403)
    error_body(post("/v2/repository/index", {}, url=URL2), 403)
    expect(post("/models/demo/predict", {"features": ROW}, url=URL2).status_code == 200,
           "the second server stopped serving")


check_call("OIP: /v2/health/live and /v2/health/ready", oip(oip_health))
check_call("OIP: GET /v2 server metadata", oip(oip_server))
check_call("OIP: GET /v2/models/demo inputs [-1,30] FP64, outputs predict and predict_proba",
           oip(oip_model_meta))
check_call("OIP: GET /v2/models/demo/ready", oip(oip_model_ready))
check_call("OIP: infer FP64 [1,30] matches /predict; id echoed", oip(oip_infer_fp64))
check_call("OIP: infer FP32 [2,30] matches /models/demo/predict on the same values", oip(oip_infer_fp32))
check_call("OIP: outputs selection returns only predict_proba; unknown output -> 400", oip(oip_outputs_selection))
check_call("OIP: one [1] tensor per feature, by name", oip(oip_per_feature))
check_call("OIP: wrong shape, short data, bad JSON -> 400; too many rows -> 413", oip(oip_bad))
check_call("OIP: unknown model / version -> 404", oip(oip_unknown))
check_call("OIP: repository control without an API key -> 401 (never unauthenticated)", oip(oip_control))
check_call("OIP: a server without --allow-model-control -> 403 on load, unload, index",
           oip(oip_control_forbidden))


# ---- OpenAPI against the route table --------------------------------------------------------
def openapi():
    r = get("/openapi.json")
    expect(r.status_code == 200, r.status_code)
    doc = r.json()
    expect(re.fullmatch(r"3\.\d+(\.\d+)?", str(doc.get("openapi"))), doc.get("openapi"))
    src = open(args.router).read()
    table = src[src.index("routes[] = {"):]
    table = table[:table.index("};")]
    routes = re.findall(r'\{\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,\s*\w+\s*,\s*([VPD])\s*\}', table)
    expect(len(routes) >= 5, f"parsed only {routes}")
    roles = {"V": "viewer", "P": "predictor", "D": "deployer"}
    probes = {"/health", "/v2/health/live", "/v2/health/ready"}
    served = set()
    for method, pattern, role in routes:
        names = iter(["{name}", "{version}"])
        path = re.sub(r"\{\}", lambda m: next(names), pattern)
        served.add(path)
        op = doc["paths"].get(path, {}).get(method.lower())
        expect(op is not None, f"{method} {path} is served but not in /openapi.json")
        expect("responses" in op, f"{method} {path} has no responses")
        expect(op.get("x-kiln-role") == roles[role],
               f"{method} {path}: x-kiln-role {op.get('x-kiln-role')}, router says {roles[role]}")
        answers = set(op["responses"])
        expect({"401", "403"} <= answers, f"{method} {path} lacks 401/403: {sorted(answers)}")
        expect(("429" in answers) == (path not in probes),
               f"{method} {path}: 429 listed {'429' in answers}, but probes alone are exempt")
    schemes = doc.get("components", {}).get("securitySchemes", {})
    expect(schemes.get("bearer", {}).get("scheme") == "bearer" and
           schemes.get("apiKey", {}).get("name") == "X-API-Key", schemes)
    extra = set(doc["paths"]) - served
    expect(not extra, f"/openapi.json lists paths the router does not serve: {extra}")


check_call("GET /openapi.json is OpenAPI 3.x and lists exactly the router's paths and methods, "
           "each with the role it needs and its 401/403/429 answers", openapi)


# ---- still alive ----------------------------------------------------------------------------
check_call("after everything: /health answers and /predict still predicts",
           lambda: healthy() and post("/predict", {"features": ROW}).status_code == 200)

finish(wrapped=True)
