-- wrk script: one request shape from environment variables, exact percentiles at the end.
--   WRK_METHOD (GET|POST), WRK_PATH, WRK_BODY, WRK_AUTH (full Authorization header value),
--   WRK_COOKIE (a Cookie header; Tessera's copy adds it for the login form)
local method = os.getenv("WRK_METHOD") or "GET"
local path = os.getenv("WRK_PATH") or "/"
local body = os.getenv("WRK_BODY")
local auth = os.getenv("WRK_AUTH")
local cookie = os.getenv("WRK_COOKIE")

local req
init = function(args)
  local headers = { ["Accept"] = "application/json" }
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
  return req
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "result.lua")
