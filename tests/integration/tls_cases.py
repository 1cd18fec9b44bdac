# tls_cases.py — HTTPS as clients see it (run by test_tls.sh, which makes the certificates in
# --dir and starts the servers): predict over HTTPS verified against the test CA, plain HTTP and
# a client trusting another CA get nothing, TLS 1.2 and 1.3 work while CBC-only clients are
# refused, certificate reload on SIGHUP (a new connection sees the new certificate, a keep-alive
# connection opened before keeps working on its own, a broken or mismatched pair keeps the
# current one and logs why, a good one after that is taken), and mutual TLS (no client
# certificate, one from another CA, or one not meant for client authentication: no HTTP
# response at all; the right one: 200).
#
# Prints one "ok   …" or "FAIL …" line per check; exits 1 when any check failed.
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import sys
import time

import requests

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)       # HTTPS server, certificate files
ap.add_argument("--pid", type=int, required=True)        # cert.pem / key.pem in --dir
ap.add_argument("--mtls-port", type=int, required=True)  # mTLS server, TLS 1.3 only
ap.add_argument("--dir", required=True)
ap.add_argument("--log", required=True)                  # the HTTPS server's stderr
args = ap.parse_args()

D = args.dir
HOST = "127.0.0.1"
URL = f"https://{HOST}:{args.port}"
MURL = f"https://{HOST}:{args.mtls_port}"
CA = os.path.join(D, "ca.pem")
T = 5  # seconds: every client call is bounded
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROW = json.load(open(os.path.join(ROOT, "examples/demo/request.json")))
sys.path.insert(0, os.path.join(ROOT, "tests/lib"))
from kilntest import check_call, expect, finish  # noqa: E402

def path(name):
    return os.path.join(D, name)


def der(name):
    return ssl.PEM_cert_to_DER_cert(open(path(name)).read())


def context(ca=CA, cert=None, lo=None, hi=None, ciphers=None):
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(path(cert + ".pem"), path(cert + ".key"))
    if lo:
        ctx.minimum_version = lo
    if hi:
        ctx.maximum_version = hi
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def handshake(port, ctx=None):
    """A fresh TLS connection: (peer certificate DER, protocol version)."""
    with socket.create_connection((HOST, port), timeout=T) as raw:
        with (ctx or context()).wrap_socket(raw, server_hostname=HOST) as s:
            return s.getpeercert(True), s.version()


def http_answer(port, ctx):
    """Whatever HTTP bytes come back to GET /health over TLS; b"" or an exception: none."""
    with socket.create_connection((HOST, port), timeout=T) as raw:
        with ctx.wrap_socket(raw, server_hostname=HOST) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            return s.recv(4096)


def no_response(port, ctx):
    try:
        got = http_answer(port, ctx)
    except (ssl.SSLError, ConnectionError, socket.timeout, OSError) as e:
        return None if not isinstance(e, socket.timeout) else f"timed out instead: {e}"
    expect(b"HTTP/" not in got, f"got an HTTP response: {got[:80]!r}")


# ---- HTTPS basics ----------------------------------------------------------------------------

def predict_https():
    r = requests.post(URL + "/predict", json=ROW, verify=CA, timeout=T)
    expect(r.status_code == 200, f"{r.status_code} {r.text[:200]}")
    expect("prediction" in r.json() or "predictions" in r.json(), r.text[:200])


check_call("POST /predict over HTTPS, certificate verified against the test CA", predict_https)
check_call("the server presents server1 (SAN 127.0.0.1)",
           lambda: expect(handshake(args.port)[0] == der("server1.pem"), "other certificate"))


def plain_http():
    with socket.create_connection((HOST, args.port), timeout=T) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            got = s.recv(4096)
        except ConnectionError:
            got = b""
    expect(b"HTTP/1.1 200" not in got and b"healthy" not in got, f"answered: {got[:80]!r}")


check_call("plain HTTP to the TLS port gets no HTTP answer", plain_http)


def other_ca():
    try:
        handshake(args.port, context(ca=path("otherca.pem")))
    except ssl.SSLCertVerificationError:
        return None
    raise AssertionError("a client trusting another CA accepted the server")


check_call("a client trusting another CA rejects the server (real verification)", other_ca)
for name, v in (("1.2", ssl.TLSVersion.TLSv1_2), ("1.3", ssl.TLSVersion.TLSv1_3)):
    check_call(f"TLS {name} handshake works",
               lambda v=v, name=name: expect(handshake(args.port, context(lo=v, hi=v))[1] ==
                                             "TLSv" + name, "other version"))


def cbc_only():
    ctx = context(hi=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA")
    try:
        handshake(args.port, ctx)
    except (ssl.SSLError, ConnectionError):
        return None
    raise AssertionError("a CBC-SHA1 cipher suite was accepted")


check_call("a client offering only CBC-SHA1 cipher suites is refused", cbc_only)

# ---- reload on SIGHUP ------------------------------------------------------------------------


def log_count(text):
    with open(args.log, errors="replace") as f:
        return f.read().count(text)


def put(cert, key):
    """Replaces cert.pem and key.pem (each atomically, as a deploy tool would)."""
    for src, dst in ((cert, "cert.pem"), (key, "key.pem")):
        shutil.copyfile(path(src), path(dst + ".tmp"))
        os.replace(path(dst + ".tmp"), path(dst))


def sighup_and_wait(text):
    n = log_count(text)
    os.kill(args.pid, signal.SIGHUP)
    deadline = time.time() + T
    while time.time() < deadline and log_count(text) == n:
        time.sleep(0.05)
    expect(log_count(text) > n, f"no '{text}' in the log after SIGHUP")


keep = http.client.HTTPSConnection(HOST, args.port, context=context(), timeout=T)


def keep_request():
    keep.request("POST", "/predict", body=json.dumps(ROW),
                 headers={"Content-Type": "application/json"})
    r = keep.getresponse()
    r.read()
    expect(r.status == 200, f"status {r.status}")
    expect(not r.will_close, "the server wants to close the keep-alive connection")
    return keep.sock.getsockname(), keep.sock.getpeercert(True)


first = {}


def keep_open():
    first["addr"], cert = keep_request()
    expect(cert == der("server1.pem"), "not server1")


check_call("a keep-alive connection is open (server1)", keep_open)


def reload_good():
    put("server2.pem", "server2.key")
    sighup_and_wait("TLS certificate reloaded")
    expect(handshake(args.port)[0] == der("server2.pem"), "a new connection did not get server2")


check_call("SIGHUP with new files: a new connection sees the new certificate", reload_good)


def keep_goes_on():
    addr, cert = keep_request()
    expect(addr == first["addr"], "the client had to reconnect")
    expect(cert == der("server1.pem"), "the certificate of the open connection changed")


check_call("the keep-alive connection opened before the reload keeps working", keep_goes_on)


def reload_bad(cert, key, why):
    def run():
        put(cert, key)
        sighup_and_wait("keeping the current certificate")
        with open(args.log, errors="replace") as f:
            expect(why in f.read(), f"the log does not say '{why}'")
        expect(handshake(args.port)[0] == der("server2.pem"), "the certificate changed")
        r = requests.get(URL + "/health", verify=CA, timeout=T)
        expect(r.status_code == 200, f"{r.status_code}")
    return run


with open(path("garbage.pem"), "w") as f:
    f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
check_call("SIGHUP with a broken certificate keeps the old one and logs an error",
           reload_bad("garbage.pem", "server2.key", "no usable PEM certificate"))
check_call("SIGHUP with a key that does not match keeps the old one",
           reload_bad("server3.pem", "server2.key", "does not match"))


def reload_after_errors():
    put("server3.pem", "server3.key")
    sighup_and_wait("TLS certificate reloaded")
    expect(handshake(args.port)[0] == der("server3.pem"), "a new connection did not get server3")
    addr, cert = keep_request()
    expect(addr == first["addr"] and cert == der("server1.pem"), "keep-alive connection changed")


check_call("a good pair after the errors is taken; the first connection still goes on",
           reload_after_errors)
keep.close()

# ---- mutual TLS ------------------------------------------------------------------------------
TLS13 = ssl.TLSVersion.TLSv1_3
check_call("mTLS: no client certificate gets no HTTP response",
           lambda: no_response(args.mtls_port, context(lo=TLS13)))
check_call("mTLS: a client certificate from another CA gets no HTTP response",
           lambda: no_response(args.mtls_port, context(cert="rogue", lo=TLS13)))
check_call("mTLS: a certificate of the CA not meant for clients (serverAuth only) gets none",
           lambda: no_response(args.mtls_port, context(cert="server2", lo=TLS13)))


def mtls_ok():
    cert = (path("client.pem"), path("client.key"))
    r = requests.post(MURL + "/predict", json=ROW, verify=CA, cert=cert, timeout=T)
    expect(r.status_code == 200, f"{r.status_code} {r.text[:200]}")
    got = http_answer(args.mtls_port, context(cert="client", lo=TLS13))
    expect(got.startswith(b"HTTP/1.1 200"), f"{got[:80]!r}")


check_call("mTLS: the client certificate gets 200", mtls_ok)

finish(wrapped=True)
