"""kilntest.py — what the Python integration harnesses share: ok/FAIL lines, `kiln serve`
processes started on 127.0.0.1 (port 0) and killed at exit whatever happens, and the exit
status (the number of failed checks). Import with sys.path.insert(0, ROOT + "/tests/lib")."""
import atexit
import re
import subprocess
import sys
import time

FAILS = []
STARTED = []


@atexit.register
def _stop_all():
    for proc in STARTED:
        if proc.poll() is None:
            proc.kill()


def check(what, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + what + ("" if cond else f"  ({detail})"), flush=True)
    if not cond:
        FAILS.append(what)


def serve(kiln, args, log_path, env=None, timeout=30):
    """Starts `kiln serve --listen 127.0.0.1:0 ARGS` logging to log_path; returns
    (process, base URL, log file). Exits the harness when the server does not come up."""
    log = open(log_path, "w+")
    p = subprocess.Popen([kiln, "serve", "--listen", "127.0.0.1:0", *args], env=env,
                         stdout=log, stderr=log, text=True)
    STARTED.append(p)
    deadline = time.time() + timeout
    while time.time() < deadline:
        log.seek(0)
        m = re.search(r"listening on (https?://[0-9.]+:\d+)", log.read())
        if m:
            return p, m.group(1), log
        if p.poll() is not None:
            break
        time.sleep(0.05)
    log.seek(0)
    raise SystemExit("kiln serve did not start: " + log.read()[-500:])


def log_text(log):
    log.seek(0)
    return log.read()


def finish():
    print(f"{len(FAILS)} failed")
    sys.exit(len(FAILS))
