-- wrk script: POST the file named by $BODY with $CONTENT_TYPE (default application/json);
-- prints the RESULT line bench/run.py reads (the same fields as ../shared/bench/post.lua).
local file = assert(io.open(os.getenv("BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE") or "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT reqs=%d secs=%.2f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, e.connect + e.read + e.write + e.status + e.timeout))
end
