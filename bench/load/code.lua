-- wrk script: the authorization_code grant. Each code works once: CODES_DIR holds files
-- codes-1, codes-2, … (authorize.lua writes them); each wrk run takes the lowest-numbered file
-- left and renames it, so a code is never presented twice (a replay would revoke its family).
-- Once the file is spent the requests carry "exhausted" and fail (non-2xx): give each run more
-- codes than it can redeem. Run with one wrk thread (-t1).
--   WRK_PATH (token endpoint path), WRK_AUTH (client Basic credentials),
--   REDIRECT_URI, CODE_VERIFIER (the PKCE verifier of every code)
local path = os.getenv("WRK_PATH") or "/token"
local auth = os.getenv("WRK_AUTH")
local dir = os.getenv("CODES_DIR")
local tail = "&redirect_uri=" .. (os.getenv("REDIRECT_URI") or "")
  .. "&code_verifier=" .. (os.getenv("CODE_VERIFIER") or "")
local pool = {}
local next_code = 1

init = function(args)
  for k = 1, 100 do
    local file = dir .. "/codes-" .. k
    if os.rename(file, file .. ".spent") then
      for line in io.lines(file .. ".spent") do
        if line ~= "" then table.insert(pool, line) end
      end
      return
    end
  end
end

request = function()
  local code = pool[next_code] or "exhausted"
  next_code = next_code + 1
  local headers = { ["Accept"] = "application/json",
    ["Content-Type"] = "application/x-www-form-urlencoded" }
  if auth and auth ~= "" then headers["Authorization"] = auth end
  return wrk.format("POST", path, headers, "grant_type=authorization_code&code=" .. code .. tail)
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "result.lua")
