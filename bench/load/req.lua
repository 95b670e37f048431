-- wrk script: one request shape from environment variables, exact percentiles at the end.
--   WRK_METHOD (GET|POST), WRK_PATH, WRK_BODY, WRK_AUTH (full Authorization header value),
--   WRK_COOKIE (a Cookie header; Tessera's copy adds it for the login form)
--   WRK_BODY_USERS (Tessera's copy): N > 0 replaces "{n}" in WRK_BODY with 1..N in turn, so
--   that a login load spreads over N accounts (one account allows few attempts in flight)
local method = os.getenv("WRK_METHOD") or "GET"
local path = os.getenv("WRK_PATH") or "/"
local body = os.getenv("WRK_BODY")
local auth = os.getenv("WRK_AUTH")
local cookie = os.getenv("WRK_COOKIE")
local users = tonumber(os.getenv("WRK_BODY_USERS") or "0") or 0
local next_user = 0

local req, headers
init = function(args)
  headers = { ["Accept"] = "application/json" }
  if auth and auth ~= "" then headers["Authorization"] = auth end
  if cookie and cookie ~= "" then headers["Cookie"] = cookie end
  if body and body ~= "" then
    headers["Content-Type"] = "application/x-www-form-urlencoded"
  else
    body = nil
  end
  req = wrk.format(method, path, headers, body)
end

request = function()
  if users > 0 then
    next_user = next_user % users + 1
    return wrk.format(method, path, headers, (string.gsub(body, "{n}", tostring(next_user))))
  end
  return req
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
