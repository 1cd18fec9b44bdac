#!/usr/bin/python3
"""jwt_cases.py DRIVER SCRATCH — Kiln's JWT verifier (through jwt_driver) against tokens minted
by an independent implementation, PyJWT with python3-cryptography keys.

Named cases: valid RS256 / ES256 / HS256 from PEM and secret files; a JWKS with two keys chosen
by kid; expired, not-yet-valid, future-iat, wrong-audience, wrong-issuer, wrong-algorithm,
`alg: none`, forged-signature and unknown-kid tokens; and the classic confusion attack (an HS256
token whose HMAC key is the RSA public key's PEM text). Each must be accepted or refused with
the expected reason. Then a sweep of tokens with times around the leeway boundaries, checked
for the same verdict as PyJWT's own jwt.decode. Prints ok/FAIL per case; exit status = failures.
"""
import base64
import hashlib
import hmac
import json
import os
import random
import subprocess
import sys
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

driver, scratch = sys.argv[1], sys.argv[2]
ISS, AUD, LEEWAY = "https://issuer.example", "kiln", 60
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../lib"))
from kilntest import check, finish  # noqa: E402


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def write(name, data):
    path = os.path.join(scratch, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def pub_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rsa_other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ec_key = ec.generate_private_key(ec.SECP256R1())
secret = os.urandom(32).hex().encode()  # 64 bytes of text

rsa_pem = write("rsa.pem", pub_pem(rsa_key))
ec_pem = write("ec.pem", pub_pem(ec_key))
secret_file = write("secret", secret + b"\n")
jwk_rsa = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
jwk_ec = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
jwk_rsa.update(kid="rsa-1", use="sig", alg="RS256")
jwk_ec.update(kid="ec-1", use="sig")
jwks_file = write("jwks.json", json.dumps({"keys": [jwk_rsa, jwk_ec]}).encode())

CONFIGS = {
    "rs256": ["--algs", "RS256", "--key", rsa_pem],
    "es256": ["--algs", "ES256", "--key", ec_pem],
    "hs256": ["--algs", "HS256", "--key", secret_file],
    "jwks": ["--algs", "RS256,ES256", "--jwks", jwks_file],
}


def claims(now, **over):
    c = {"iss": ISS, "aud": AUD, "sub": "user-42", "role": "predictor",
         "iat": int(now) - 5, "exp": int(now) + 600}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def run_driver(config, tokens, now):
    args = [driver, "--iss", ISS, "--aud", AUD, "--leeway", str(LEEWAY), "--now", repr(now)]
    p = subprocess.run(args + (CONFIGS[config] if isinstance(config, str) else config), input="".join(t + "\n" for t in tokens),
                       capture_output=True, text=True, timeout=120)
    lines = [json.loads(line) for line in p.stdout.splitlines()]
    if p.returncode == 3:
        return lines[0]
    if p.returncode != 0 or len(lines) != len(tokens):
        raise SystemExit(f"driver failed (rc {p.returncode}): {p.stderr.strip()}")
    return lines


def forge(token):
    head, body, sig = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{body}.{b64(bytes(raw))}"


def hs256_with(key_bytes, payload, headers=None):
    """Mints HS256 by hand: PyJWT itself refuses to use a PEM as an HMAC secret."""
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", **(headers or {})}).encode())
    body = b64(json.dumps(payload).encode())
    mac = hmac.new(key_bytes, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def named_cases(now):
    """(name, config, token, expected reason or None for accept)."""
    c = claims(now)
    rs = lambda p, **kw: jwt.encode(p, rsa_key, algorithm="RS256", **kw)
    es = lambda p, **kw: jwt.encode(p, ec_key, algorithm="ES256", **kw)
    hs = lambda p, **kw: jwt.encode(p, secret, algorithm="HS256", **kw)
    payload_swap = rs(c).split(".")
    evil = rs(claims(now, role="admin")).split(".")
    return [
        ("valid RS256", "rs256", rs(c), None),
        ("valid ES256", "es256", es(c), None),
        ("valid HS256", "hs256", hs(c), None),
        ("aud array", "rs256", rs(claims(now, aud=["other", AUD])), None),
        ("exp within leeway", "rs256", rs(claims(now, exp=int(now) - LEEWAY + 20)), None),
        ("jwks RSA by kid", "jwks", rs(c, headers={"kid": "rsa-1"}), None),
        ("jwks EC by kid", "jwks", es(c, headers={"kid": "ec-1"}), None),
        ("expired", "rs256", rs(claims(now, exp=int(now) - LEEWAY - 20)), "token expired"),
        ("not yet valid", "rs256", rs(claims(now, nbf=int(now) + LEEWAY + 30)), "not yet valid"),
        ("future iat", "es256", es(claims(now, iat=int(now) + LEEWAY + 30)), "in the future"),
        ("no exp", "hs256", hs(claims(now, exp=None)), "no expiry"),
        ("wrong audience", "rs256", rs(claims(now, aud="someone-else")), "audience does not"),
        ("wrong issuer", "rs256", rs(claims(now, iss="https://evil.example")), "issuer does not"),
        ("wrong algorithm", "rs256", es(c), "algorithm is not allowed"),
        ("RS512 unsupported", "rs256", jwt.encode(c, rsa_key, algorithm="RS512"),
         "not supported"),
        ("alg none", "rs256", jwt.encode(c, None, algorithm="none"),
         "algorithm none is not allowed"),
        ("forged RS256", "rs256", forge(rs(c)), "signature does not verify"),
        ("forged ES256", "es256", forge(es(c)), "signature does not verify"),
        ("forged HS256", "hs256", forge(hs(c)), "signature does not verify"),
        ("other RSA key", "rs256", jwt.encode(c, rsa_other, algorithm="RS256"),
         "signature does not verify"),
        ("payload swapped", "rs256", ".".join([payload_swap[0], evil[1], payload_swap[2]]),
         "signature does not verify"),
        ("unknown kid", "jwks", rs(c, headers={"kid": "rsa-2"}), "unknown key id"),
        ("kid of the other type", "jwks", es(c, headers={"kid": "rsa-1"}), "does not match"),
        ("HS256 keyed with RSA PEM", "rs256", hs256_with(pub_pem(rsa_key), c),
         "algorithm is not allowed"),
        ("HS256 keyed with RSA PEM, jwks", "jwks",
         hs256_with(pub_pem(rsa_key), c, {"kid": "rsa-1"}), "algorithm is not allowed"),
        ("HS256 keyed with RSA PEM, HS allowed", "hs256", hs256_with(pub_pem(rsa_key), c),
         "signature does not verify"),
    ]


def check_named(now):
    by_config = {}
    for case in named_cases(now):
        by_config.setdefault(case[1], []).append(case)
    for config, cases in by_config.items():
        results = run_driver(config, [c[2] for c in cases], now)
        for (name, _, token, want), got in zip(cases, results):
            ok = got["ok"] if want is None else (not got["ok"] and want in got["error"])
            if ok and not got["ok"] and token.split(".")[-1] and token.split(".")[-1] in got["error"]:
                ok = False  # a reason must never echo the token
            if ok and got["ok"] and (got["sub"], got["role"]) != ("user-42", "predictor"):
                ok = False
            check(f"{name}: {got.get('error', 'accepted')}", ok)
    # A PEM key file can never serve HS256: the configuration itself is refused.
    got = run_driver(["--algs", "RS256,HS256", "--key", rsa_pem], [], now)
    ok = isinstance(got, dict) and "HS256" in got.get("config_error", "")
    check(f"RS256+HS256 on a PEM file refused: {got}", ok)


def sweep(now):
    """Random claim times around the boundaries; Kiln and PyJWT must agree on every verdict."""
    rng = random.Random(20240611)
    offsets = [-3600, -LEEWAY - 30, -LEEWAY - 5, -LEEWAY + 5, -30, 0, 30, LEEWAY - 5, LEEWAY + 5,
               LEEWAY + 30, 3600]
    tokens, want = [], []
    for _ in range(200):
        c = claims(now, exp=int(now) + rng.choice(offsets))
        if rng.random() < 0.4:
            c["nbf"] = int(now) + rng.choice(offsets)
        if rng.random() < 0.4:
            c["iat"] = int(now) + rng.choice(offsets)
        if rng.random() < 0.1:
            c["aud"] = rng.choice(["x", [AUD, "y"], ["x", "y"]])
        tok = jwt.encode(c, rsa_key, algorithm="RS256")
        try:
            jwt.decode(tok, rsa_key.public_key(), algorithms=["RS256"], audience=AUD,
                       issuer=ISS, leeway=LEEWAY, options={"require": ["exp"]})
            want.append(True)
        except jwt.PyJWTError:
            want.append(False)
        tokens.append(tok)
    got = run_driver("rs256", tokens, time.time())
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if g["ok"] != w]
    check(f"sweep: {len(tokens)} tokens, {sum(want)} accepted by PyJWT, {len(bad)} disagreements",
          not bad)
    for i in bad[:5]:
        print("   ", jwt.decode(tokens[i], options={"verify_signature": False}), got[i])


now = time.time()
check_named(now)
sweep(now)
finish()
