"""artifacts_security_cases.py KILN SCRATCH ROOT — signing and encryption at rest, end to end.

Every check prints "ok   …" or "FAIL …"; the exit status is the number of failures (capped).
Servers listen on 127.0.0.1 port 0 and are killed at exit whatever happens."""
import base64
import glob
import hashlib
import json
import os
import sqlite3
import subprocess
import sys

import requests

KILN, SCRATCH, ROOT = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, os.path.join(ROOT, "tests/lib"))
from kilntest import STARTED, check, finish, log_text, serve, stop  # noqa: E402

HOME = os.path.join(SCRATCH, "home")
WRITTEN = []  # everything Kiln printed or logged, grepped for key material at the end


def path(name):
    return os.path.join(SCRATCH, name)


ART_KEY = os.urandom(32).hex()
NEW_KEY = os.urandom(32).hex()
with open(path("artifact.key"), "w") as f:
    f.write(ART_KEY + "\n")
with open(path("new.key"), "w") as f:
    f.write(NEW_KEY + "\n")
os.chmod(path("artifact.key"), 0o600)
BASE = dict(os.environ, KILN_HOME=HOME, KILN_USER="tester",
            KILN_ARTIFACT_KEY_FILE=path("artifact.key"))
for var in ("KILN_ARTIFACT_KEY", "KILN_TRUSTED_KEYS", "KILN_REQUIRE_SIGNED_MODELS"):
    BASE.pop(var, None)


def kiln(*args, env=None):
    r = subprocess.run([KILN, *args], env=env or BASE, capture_output=True, text=True, timeout=120)
    WRITTEN.extend([r.stdout, r.stderr])
    return r


def start(*args, env=None):
    """Starts `kiln serve`; returns (process, url, log) or (process, None, log) when it exits
    before listening."""
    return serve(KILN, args, path(f"serve-{len(STARTED)}.log"), env or BASE, must_start=False)


def stop_server(p, log):
    stop(p)
    WRITTEN.append(log_text(log))


def signing_key(name):
    """`kiln keys signing-create`: a secret key file (0600) and NAME.pub; returns the key id."""
    r = kiln("keys", "signing-create", "--out", path(name))
    check(f"kiln keys signing-create --out {name}", r.returncode == 0, r.stderr)
    return open(path(name + ".pub")).read().split()[2]


def artifact_files():
    return sorted(glob.glob(os.path.join(HOME, "artifacts", "sha256", "*", "*")))


def flip(file, at):
    with open(file, "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 1]))


FEATURES = [float(x) for x in open(os.path.join(ROOT, "examples/demo/patients.csv"))
            .read().splitlines()[1].split(",")]


def predicts(url):
    r = requests.post(url + "/models/demo/predict", json={"features": FEATURES}, timeout=10)
    return r.status_code == 200


# ---- keys, signing --------------------------------------------------------------------------
kid = signing_key("signing.key")
signing_key("other.key")
os.makedirs(path("trusted"))
os.rename(path("signing.key.pub"), path("trusted/signing.key.pub"))
check("the secret key file is private (0600)", os.stat(path("signing.key")).st_mode & 0o777 == 0o600)
r = kiln("import", os.path.join(ROOT, "examples/demo/model.json"), "-o", path("demo.kiln"))
check("import the demo model", r.returncode == 0, r.stderr)
r = kiln("sign", path("demo.kiln"), "--key", path("signing.key"), "--out", path("signed.kiln"))
check("kiln sign", r.returncode == 0 and kid in r.stdout, r.stderr)
r = kiln("sign", path("signed.kiln"), "--key", path("signing.key"), "--out", path("resigned.kiln"))
check("re-signing replaces the signature (same size)",
      r.returncode == 0 and os.path.getsize(path("resigned.kiln")) == os.path.getsize(path("signed.kiln")))
r = kiln("sign", path("demo.kiln"), "--key", path("other.key"), "--out", path("other.kiln"))
r = kiln("sign", "--verify", path("signed.kiln"), "--trusted-keys", path("trusted"))
check("kiln sign --verify with the trusted key", r.returncode == 0, r.stderr)
r = kiln("inspect", path("signed.kiln"))
check("a signed package is still a package (kiln inspect)", r.returncode == 0, r.stderr)
with open(path("signed.kiln"), "rb") as f:
    data = bytearray(f.read())
data[-5] ^= 1
with open(path("tampered.kiln"), "wb") as f:
    f.write(data)

# ---- register under the policy --------------------------------------------------------------
REQ = ["--require-signed", "--trusted-keys", path("trusted")]
r = kiln("models", "register", path("demo.kiln"), "--name", "demo", *REQ)
check("register unsigned with --require-signed: refused",
      r.returncode == 1 and "the package is not signed" in r.stderr, r.stderr)
env = dict(BASE, KILN_REQUIRE_SIGNED_MODELS="true", KILN_TRUSTED_KEYS=path("trusted"))
r = kiln("models", "register", path("demo.kiln"), "--name", "demo", env=env)
check("register unsigned with KILN_REQUIRE_SIGNED_MODELS=true: refused",
      r.returncode == 1 and "not signed" in r.stderr, r.stderr)
r = kiln("models", "register", path("other.kiln"), "--name", "demo", *REQ)
check("register signed by an untrusted key: refused",
      r.returncode == 1 and "signature does not verify with any trusted key" in r.stderr, r.stderr)
r = kiln("models", "register", path("tampered.kiln"), "--name", "demo")
check("register a tampered signed package without the policy: refused", r.returncode == 1, r.stderr)
r = kiln("models", "register", path("signed.kiln"), "--name", "demo", "--alias", "production", *REQ)
check("register signed with --require-signed: accepted", r.returncode == 0, r.stderr)
files = artifact_files()
check("the stored package is encrypted (KILNENC1, no plaintext magic)",
      len(files) == 1 and all(open(x, "rb").read(8) == b"KILNENC1" and
                              b"KILNMODL" not in open(x, "rb").read() for x in files), files)

# ---- the server -----------------------------------------------------------------------------
SERVE_ENV = dict(BASE, KILN_REQUIRE_SIGNED_MODELS="true", KILN_TRUSTED_KEYS=path("trusted"))
for attempt in ("first start", "after a restart"):
    p, url, log = start("--serve", "demo@production", env=SERVE_ENV)
    check(f"server loads the signed + encrypted model ({attempt})", url and predicts(url),
          log_text(log)[-500:])
    if url:
        stop_server(p, log)

flip(files[0], os.path.getsize(files[0]) // 2)
p, url, log = start("--serve", "demo@production", env=SERVE_ENV)
WRITTEN.append(log_text(log))
check("a flipped byte in the stored artifact: refused at load",
      url is None and "authentication failed" in log_text(log), log_text(log)[-500:])
flip(files[0], os.path.getsize(files[0]) // 2)

p, url, log = start("--serve", "demo@production", env=dict(SERVE_ENV, KILN_ARTIFACT_KEY_FILE="",
                                                                KILN_ARTIFACT_KEY=NEW_KEY))
WRITTEN.append(log_text(log))
check("the wrong artifact key: refused at load",
      url is None and "not the configured key" in log_text(log), log_text(log)[-500:])

r = kiln("models", "register", path("demo.kiln"), "--name", "plain", "--alias", "production")
check("register unsigned without the policy: accepted", r.returncode == 0, r.stderr)
p, url, log = start("--serve", "plain@production", env=SERVE_ENV)
WRITTEN.append(log_text(log))
check("the server refuses an unsigned version under require_signed_models",
      url is None and "plain v1: the package is not signed" in log_text(log),
      log_text(log)[-500:])

# Each refusal is audited from the main thread while the key refresher thread starts on the
# same registry handle; starting it repeatedly once lost records when the two raced.
for _ in range(9):
    p, url, log = start("--serve", "plain@production", env=SERVE_ENV)
    WRITTEN.append(log_text(log))
au = json.loads(kiln("audit", "list", "--json").stdout or "[]")
refused = [r for r in au if r["action"] == "model.refused"]
check("every refusal at load is audited (10 of 10, with the reason)",
      len(refused) == 10 and all(r["outcome"] == "denied" and r["object"] == "plain"
                                 and "not signed" in r["detail"] for r in refused),
      [(r["object"], r["detail"][:60]) for r in refused][:3] + [len(refused)])
r = kiln("audit", "verify")
check("kiln audit verify after the refusals", r.returncode == 0, r.stdout + r.stderr)
denied = [r for r in au if r["action"] == "model.register" and r["outcome"] == "denied"]
check("refused registrations are audited (actor, model, why)",
      len(denied) >= 3 and all(r["actor"] == "tester" for r in denied) and
      any("not signed" in r["detail"] for r in denied), denied[:2])
check("a server start is audited with where it listens",
      any(r["action"] == "server.start" and r["object"].startswith("http://127.0.0.1:") for r in au),
      [r["action"] for r in au][-8:])

# ---- rekey ----------------------------------------------------------------------------------
r = kiln("store", "rekey", "--new-key-file", path("new.key"))
check("kiln store rekey", r.returncode == 0 and "0 failed" in r.stdout, r.stdout + r.stderr)
NEW_ENV = dict(SERVE_ENV, KILN_ARTIFACT_KEY_FILE=path("new.key"))
p, url, log = start("--serve", "demo@production", env=NEW_ENV)
check("after rekey the server loads with the new key", url and predicts(url), log_text(log)[-500:])
if url:
    stop_server(p, log)
p, url, log = start("--serve", "demo@production", env=SERVE_ENV)
WRITTEN.append(log_text(log))
check("after rekey the old key is refused", url is None, log_text(log)[-300:])

# ---- no key material anywhere ---------------------------------------------------------------
db = sqlite3.connect(os.path.join(HOME, "registry.db"))
WRITTEN.append("\n".join(db.iterdump()))
db.close()
for f in glob.glob(os.path.join(HOME, "**"), recursive=True):
    if os.path.isfile(f) and "/artifacts/" not in f:
        WRITTEN.append(open(f, "rb").read().decode("latin-1"))
everything = "\n".join(WRITTEN).lower()
secret_b64 = open(path("signing.key")).read().split()[1]
check("no artifact key hex in anything Kiln wrote",
      ART_KEY not in everything and NEW_KEY not in everything)
check("no signing secret in anything Kiln wrote", secret_b64.lower() not in everything)

finish()
