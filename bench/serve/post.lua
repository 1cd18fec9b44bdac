-- post.lua — wrk script for the serving benchmark: POSTs the JSON body read from the file named
-- by $BENCH_BODY to the URL's path, and when the run ends prints one machine-readable line:
--   BENCH requests=N duration_us=N p50_us=N p99_us=N connect=N read=N write=N status=N timeout=N
-- (status counts 4xx/5xx answers; run.sh shows their sum in the errors column). With $BENCH_AUTH
-- set, every request carries "Authorization: Bearer $BENCH_AUTH".
local path = os.getenv("BENCH_BODY")
local f = assert(io.open(path, "rb"), "cannot open BENCH_BODY " .. tostring(path))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. auth
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
