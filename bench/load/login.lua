-- wrk script: POST /login as one of several users in turn, so that the per-account throttle
-- (login_max_failures reservations in flight per account) does not turn a concurrent run on
-- one account into 429s. Run with one wrk thread (-t1).
--   WRK_PATH (/login), WRK_BODY (the form, with __USER__ where the username goes),
--   WRK_COOKIE (the pre-login cookie the form's CSRF token is bound to), LOGIN_USERS
--   (usernames separated by spaces)
local path = os.getenv("WRK_PATH") or "/login"
local body = os.getenv("WRK_BODY") or ""
local cookie = os.getenv("WRK_COOKIE")
local users = {}
local n = 0
local headers = { ["Accept"] = "text/html", ["Content-Type"] = "application/x-www-form-urlencoded" }

init = function(args)
  for u in string.gmatch(os.getenv("LOGIN_USERS") or "", "%S+") do table.insert(users, u) end
  if cookie and cookie ~= "" then headers["Cookie"] = cookie end
end

request = function()
  n = n + 1
  local user = users[(n % #users) + 1]
  return wrk.format("POST", path, headers, (string.gsub(body, "__USER__", user)))
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "result.lua")
