-- wrk script: GET /authorize for a first-party client with a signed-in session, and keep every
-- code it hands out (one per line) for code.lua to redeem. CODES_DIR gets a new file codes-N
-- per wrk run (the lowest N not taken). Run with one wrk thread (-t1).
--   WRK_PATH (the /authorize path and query, without state), WRK_COOKIES (session cookies,
--   separated by "|": requests take them in turn, so codes come from several sessions)
local path = os.getenv("WRK_PATH") or "/authorize"
local dir = os.getenv("CODES_DIR")
local cookies = {}
local out
local n = 0

init = function(args)
  for c in string.gmatch(os.getenv("WRK_COOKIES") or "", "[^|]+") do table.insert(cookies, c) end
  for k = 1, 100 do
    local file = dir .. "/codes-" .. k
    if io.open(file, "r") == nil and io.open(file .. ".spent", "r") == nil then
      out = io.open(file, "w")
      out:setvbuf("line")
      return
    end
  end
end

request = function()
  n = n + 1
  local headers = { ["Accept"] = "text/html" }
  if #cookies > 0 then headers["Cookie"] = cookies[(n % #cookies) + 1] end
  return wrk.format("GET", path .. "&state=s" .. n, headers)
end

response = function(status, headers, body)
  local loc = headers["Location"] or headers["location"]
  if loc then
    local code = string.match(loc, "[?&]code=([^&]+)")
    if code then out:write(code, "\n") end
  end
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "result.lua")
