-- wrk script: GET /revocations?since=CURSOR, the cursor drawn at random from
-- [SINCE_MIN, SINCE_MAX], so that every page is a full one (SINCE_MAX at least a page below the
-- highest live id) and the pages come from all over the list, as resource servers catching up
-- would ask for them. Run with one wrk thread (-t1).
--   WRK_PATH (/revocations), WRK_AUTH (a resource server's Basic credentials)
local path = os.getenv("WRK_PATH") or "/revocations"
local auth = os.getenv("WRK_AUTH")
local lo = tonumber(os.getenv("SINCE_MIN") or "0")
local hi = tonumber(os.getenv("SINCE_MAX") or "0")

init = function(args)
  math.randomseed(os.time())
end

request = function()
  local headers = { ["Accept"] = "application/json" }
  if auth and auth ~= "" then headers["Authorization"] = auth end
  return wrk.format("GET", path .. "?since=" .. math.random(lo, math.max(lo, hi)), headers)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.0f "
    .. "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
