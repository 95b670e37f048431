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

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "result.lua")
