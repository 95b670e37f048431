-- wrk script: the refresh_token grant with rotation. Each request spends one refresh token and
-- each 200 answer gives back its successor, so every connection always presents a fresh token
-- (never a reused one, which would revoke its family). REFRESH_TOKENS_DIR holds files
-- tokens-1, tokens-2, … (one token per line, at least 2x the connections): each wrk run takes
-- the lowest-numbered file left and renames it, since a spent token must never come back.
-- Run with one wrk thread (-t1).
--   WRK_PATH (token endpoint path), WRK_AUTH (client Basic credentials)
local path = os.getenv("WRK_PATH") or "/token"
local auth = os.getenv("WRK_AUTH")
local dir = os.getenv("REFRESH_TOKENS_DIR")
local pool = {}

init = function(args)
  for k = 1, 100 do
    local file = dir .. "/tokens-" .. k
    if os.rename(file, file .. ".spent") then
      for line in io.lines(file .. ".spent") do
        if line ~= "" and line ~= "null" then table.insert(pool, line) end
      end
      return
    end
  end
end

request = function()
  local token = table.remove(pool, 1) or "exhausted"
  local headers = { ["Accept"] = "application/json",
    ["Content-Type"] = "application/x-www-form-urlencoded" }
  if auth and auth ~= "" then headers["Authorization"] = auth end
  return wrk.format("POST", path, headers, "grant_type=refresh_token&refresh_token=" .. token)
end

response = function(status, headers, body)
  if status == 200 then
    local next_token = string.match(body, '"refresh_token":"([^"]+)"')
    if next_token then table.insert(pool, next_token) end
  end
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "result.lua")
