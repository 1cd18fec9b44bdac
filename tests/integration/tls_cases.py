# tls_cases.py — HTTPS as clients see it (run by test_tls.sh, which makes the certificates in
# --dir and starts the servers): predict over HTTPS verified against the test CA, plain HTTP and
# a client trusting another CA get nothing, TLS 1.2 and 1.3 work while CBC-only clients are
# refused, certificate reload on SIGHUP (a new connection sees the new certificate, a keep-alive
# connection opened before keeps working on its own, a broken or mismatched pair keeps the
# current one and logs why, a good one after that is taken), and mutual TLS (no client
# certificate, one from another CA, or one not meant for client authentication: no HTTP
# response at all; the right one: 200), client CA reload on SIGHUP (a new CA's client is taken
# and the old CA's refused, a keep-alive connection opened before goes on, a broken CA file keeps
# the current CA), and encrypted private keys (tls_key_password_file: served with the right
# passphrase, refused at start with a wrong or missing one, reload with a wrong one keeps the
# current key; the passphrase in no log).
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
import subprocess
import sys
import time

import requests

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)       # HTTPS server, certificate files
ap.add_argument("--pid", type=int, required=True)        # cert.pem / key.pem in --dir
ap.add_argument("--mtls-port", type=int, required=True)  # mTLS server, TLS 1.3 only
ap.add_argument("--dir", required=True)
ap.add_argument("--log", required=True)                  # the HTTPS server's stderr
ap.add_argument("--mtls-pid", type=int, required=True)   # client CA file: clientca.pem in --dir
ap.add_argument("--mtls-log", required=True)             # the mTLS server's stderr
ap.add_argument("--kiln", required=True)
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
from kilntest import check_call, expect, finish, log_text, serve, stop  # noqa: E402

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


def log_count(text, log=None):
    with open(log or args.log, errors="replace") as f:
        return f.read().count(text)


def put(cert, key):
    """Replaces cert.pem and key.pem (each atomically, as a deploy tool would)."""
    for src, dst in ((cert, "cert.pem"), (key, "key.pem")):
        shutil.copyfile(path(src), path(dst + ".tmp"))
        os.replace(path(dst + ".tmp"), path(dst))


def sighup_and_wait(text, pid=None, log=None):
    n = log_count(text, log)
    os.kill(pid or args.pid, signal.SIGHUP)
    deadline = time.time() + T
    while time.time() < deadline and log_count(text, log) == n:
        time.sleep(0.05)
    expect(log_count(text, log) > n, f"no '{text}' in the log after SIGHUP")


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

# ---- client CA reload ------------------------------------------------------------------------


def answers_200(cert):
    got = http_answer(args.mtls_port, context(cert=cert, lo=TLS13))
    expect(got.startswith(b"HTTP/1.1 200"), f"{cert}: {got[:80]!r}")


def replace_file(src, dst):
    shutil.copyfile(path(src), path(dst + ".tmp"))
    os.replace(path(dst + ".tmp"), path(dst))


mkeep = http.client.HTTPSConnection(HOST, args.mtls_port, timeout=T,
                                    context=context(cert="client", lo=TLS13))


def mkeep_request():
    mkeep.request("GET", "/health")
    r = mkeep.getresponse()
    r.read()
    expect(r.status == 200, f"status {r.status}")
    expect(not r.will_close, "the server wants to close the keep-alive connection")
    return mkeep.sock.getsockname()


def mkeep_open():
    first["maddr"] = mkeep_request()


check_call("mTLS: a keep-alive connection with the old CA's client certificate is open",
           mkeep_open)


def ca_reload():
    replace_file("newca.pem", "clientca.pem")
    sighup_and_wait("TLS certificate reloaded", args.mtls_pid, args.mtls_log)
    answers_200("newclient")
    no_response(args.mtls_port, context(cert="client", lo=TLS13))


check_call("SIGHUP with a new client CA: its client is taken, the old CA's client refused",
           ca_reload)


def mkeep_goes_on():
    expect(mkeep_request() == first["maddr"], "the client had to reconnect")


check_call("the mTLS keep-alive connection opened before the CA reload keeps working",
           mkeep_goes_on)
mkeep.close()


def ca_reload_bad():
    replace_file("garbage.pem", "clientca.pem")
    sighup_and_wait("keeping the current certificate and client CA", args.mtls_pid, args.mtls_log)
    expect(log_count("tls_client_ca_file", args.mtls_log) > 0, "the log does not name the file")
    answers_200("newclient")
    no_response(args.mtls_port, context(cert="client", lo=TLS13))


check_call("SIGHUP with a broken client CA file keeps the current CA and logs why", ca_reload_bad)

# ---- encrypted private keys ------------------------------------------------------------------
PASS = "kiln-Test-passphrase-7f3a"


def openssl(*argv):
    subprocess.run(["openssl", *argv], check=True, cwd=D, timeout=30,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_encrypted_keys():
    with open(path("pass.txt"), "w") as f:
        f.write(PASS + "\n")
    with open(path("wrongpass.txt"), "w") as f:
        f.write("not-" + PASS + "\n")
    openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", "server1.key", "-out", "enc1.key",
            "-passout", "file:pass.txt")
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes256",
            "-pass", "file:pass.txt", "-out", "enc2.key")
    openssl("req", "-new", "-key", "enc2.key", "-passin", "file:pass.txt", "-out", "enc2.csr",
            "-subj", "/CN=enc2")
    openssl("x509", "-req", "-in", "enc2.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "enc2.pem", "-days", "2", "-extfile", "server.ext")
    with open(path("enc1.key")) as f:
        expect("BEGIN ENCRYPTED PRIVATE KEY" in f.read(), "openssl did not encrypt the key")


check_call("openssl makes encrypted PKCS#8 keys (pkcs8 -topk8 -v2 aes-256-cbc, genpkey -aes256)",
           make_encrypted_keys)
LOGS = []


def start(name, cert, key, password=None):
    log = path(name + ".err")
    LOGS.append(log)
    extra = ["--set", "tls_key_password_file=" + path(password)] if password else []
    return serve(args.kiln, ["--model", "demo=demo.kiln", "--access-log", "off",
                             "--set", "tls_cert_file=" + path(cert),
                             "--set", "tls_key_file=" + path(key), *extra],
                 log, timeout=20, must_start=False)


def encrypted_server(name, cert, key, body):
    """A check: a server with `key` (passphrase in pass.txt) presents `cert`, passes
    body(process, port, log) and stops with exit 0."""
    def run():
        p, url, log = start(name, cert, key, "pass.txt")
        try:
            expect(url and url.startswith("https://"), "did not start: " + log_text(log)[-300:])
            port = int(url.rsplit(":", 1)[1])
            expect(handshake(port)[0] == der(cert), "other certificate")
            body(p, port, log)
            expect(stop(p) == 0, "did not stop with exit 0")
        finally:
            if p.poll() is None:
                stop(p)
    return run


def predict_and_reload(p, port, log):
    r = requests.post(f"https://{HOST}:{port}/predict", json=ROW, verify=CA, timeout=T)
    expect(r.status_code == 200, f"{r.status_code}")
    sighup_and_wait("TLS certificate reloaded", p.pid, log.name)
    expect(handshake(port)[0] == der("server1.pem"), "other certificate after reload")


check_call("an encrypted key (pkcs8) with the right passphrase file serves HTTPS; reload works",
           encrypted_server("enc", "server1.pem", "enc1.key", predict_and_reload))


def reload_wrong_passphrase(p, port, log):
    replace_file("wrongpass.txt", "pass.txt")
    sighup_and_wait("keeping the current certificate", p.pid, log.name)
    expect("wrong passphrase" in log_text(log), "the log does not say 'wrong passphrase'")
    expect(handshake(port)[0] == der("enc2.pem"), "the certificate changed")
    with open(path("pass.txt"), "w") as f:
        f.write(PASS + "\n")


check_call("a genpkey -aes256 key serves; SIGHUP with a wrong passphrase keeps the current key",
           encrypted_server("enc2", "enc2.pem", "enc2.key", reload_wrong_passphrase))


def refused(name, key, password, want):
    def run():
        p, url, log = start(name, "server1.pem", key, password)
        expect(url is None and p.returncode == 1, f"rc={p.returncode} url={url}")
        expect(want in log_text(log), f"no '{want}' in: {log_text(log)[-300:]}")
    return run


check_call("an encrypted key without tls_key_password_file: refused at start, saying so",
           refused("enc_nopass", "enc1.key", None,
                   "enc1.key is encrypted: set tls_key_password_file"))
check_call("an encrypted key with a wrong passphrase: refused at start, saying so",
           refused("enc_wrong", "enc1.key", "wrongpass.txt", "wrong passphrase"))


def passphrase_in_no_log():
    for log in LOGS + [args.log, args.mtls_log]:
        with open(log, errors="replace") as f:
            expect(PASS not in f.read(), f"the passphrase is in {log}")


check_call("the passphrase appears in no log", passphrase_in_no_log)

finish(wrapped=True)
