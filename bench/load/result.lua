-- The `done` every wrk script here shares: one RESULT line with exact percentiles, which
-- oauth-load.sh and the bench scripts parse. Loaded by each script with
--   dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "result.lua")
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.0f "
    .. "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
