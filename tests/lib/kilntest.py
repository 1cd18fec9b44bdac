"""kilntest.py — what the Python integration harnesses share: ok/FAIL lines, `kiln serve`
processes started on 127.0.0.1 (port 0) and killed at exit whatever happens, and the exit
status. Import with sys.path.insert(0, ROOT + "/tests/lib") (or the path of this folder
relative to the harness, for harnesses not given ROOT).

Two styles of check, one record of results:
  check(what, cond, detail)   a condition already computed (fail(what): a failure found);
  check_call(what, fn)        runs fn(), which fails by raising (see expect()) or returning False.
finish() ends the harness: "N failed" and exit status N, or, for a harness whose lines a shell
wrapper adds to its own count, finish(wrapped=True): "P/T checks passed" and exit status 0 or 1."""
import atexit
import re
import signal
import subprocess
import sys
import time

FAILS = []    # what failed, in order
CHECKS = []   # what was checked (passed, failed or skipped), in order
STARTED = []  # every process started here (add your own): killed at exit if still running


@atexit.register
def _stop_all():
    for proc in STARTED:
        if proc.poll() is None:
            proc.kill()


def check(what, cond, detail=""):
    """Prints "ok   WHAT", or "FAIL WHAT  (DETAIL)" (no parentheses when DETAIL is "")."""
    CHECKS.append(what)
    print(("ok   " if cond else "FAIL ") + what + ("" if cond or detail == "" else f"  ({detail})"),
          flush=True)
    if not cond:
        FAILS.append(what)
    return bool(cond)


def fail(what, detail=""):
    """check(what, False, detail): for a harness that prints its own lines for what passed."""
    return check(what, False, detail)


def expect(cond, msg):
    """Inside a check_call function: fails the check with msg when cond is false."""
    if not cond:
        raise AssertionError(msg)


def check_call(what, fn):
    """Runs fn(); it passes when it returns True or None; an exception or False fails it, the
    exception (or any other value returned) printed on the next line. fn may return the string
    "skip: why" to print "skip WHAT (why)" instead: it counts as checked, not as failed."""
    try:
        res = fn()
    except Exception as e:  # a check's own failure, reported with its cause
        res = f"{type(e).__name__}: {e}"
    if isinstance(res, str) and res.startswith("skip"):
        CHECKS.append(what)
        print(f"skip {what} ({res[5:].strip()})", flush=True)
        return None
    passed = res is True or res is None
    check(what, passed)
    if not passed and res is not False:
        print(f"     {str(res)[:600]}", flush=True)
    return passed


def serve(kiln, args, log_path, env=None, timeout=30, must_start=True):
    """Starts `kiln serve --listen 127.0.0.1:0 ARGS` with stdout and stderr to log_path; returns
    (process, base URL, log file), the URL http:// or https:// as the server says. When the
    server does not come up within timeout seconds: with must_start, exits the harness; without,
    waits (timeout seconds more) for it to end and returns (process, None, log file)."""
    open(log_path, "w").close()
    log = open(log_path, "a+")  # O_APPEND: the server's writes never land where we seek to read
    p = subprocess.Popen([kiln, "serve", "--listen", "127.0.0.1:0", *args], env=env,
                         stdout=log, stderr=log, text=True)
    STARTED.append(p)
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(r"listening on (https?://[0-9.]+:\d+)", log_text(log))
        if m:
            return p, m.group(1), log
        if p.poll() is not None:
            break
        time.sleep(0.05)
    if must_start:
        raise SystemExit("kiln serve did not start: " + log_text(log)[-500:])
    p.wait(timeout=timeout)
    return p, None, log


def stop(proc, timeout=30):
    """SIGTERM; returns the exit status, or kills the process and returns -9 when it has not
    ended within timeout seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return -9


def log_text(log):
    log.seek(0)
    return log.read()


def finish(wrapped=False):
    if wrapped:
        print(f"{len(CHECKS) - len(FAILS)}/{len(CHECKS)} checks passed", flush=True)
        sys.exit(1 if FAILS else 0)
    print(f"{len(FAILS)} failed", flush=True)
    sys.exit(min(len(FAILS), 100))  # an exit status is taken modulo 256
