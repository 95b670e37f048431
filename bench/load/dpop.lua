-- POST /token (client_credentials) with a fresh DPoP proof per request, read from PROOFS_FILE
-- (one per line, from `cargo run --example dpop_proofs`); without PROOFS_FILE, no proof (the
-- bearer row of the same run). BASIC is the client's `Authorization` value. Counts 200s and
-- the rest; with one wrk thread, `done` prints them.
local proofs = {}
local next_proof = 0
ok, bad = 0, 0
local file = os.getenv("PROOFS_FILE")
if file and file ~= "" then
  for line in io.lines(file) do proofs[#proofs + 1] = line end
end
local headers = {
  ["Authorization"] = os.getenv("BASIC"),
  ["Content-Type"] = "application/x-www-form-urlencoded",
}
local body = "grant_type=client_credentials"
local threads = {}

function setup(thread) table.insert(threads, thread) end

function request()
  if #proofs > 0 then
    -- Out of proofs: the last one again, refused as a replay (and counted as `bad`).
    next_proof = math.min(next_proof + 1, #proofs)
    headers["DPoP"] = proofs[next_proof]
  end
  return wrk.format("POST", nil, headers, body)
end

function response(status)
  if status == 200 then ok = ok + 1 else bad = bad + 1 end
end

function done()
  local o, b = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
  io.write(string.format("ok=%d bad=%d\n", o, b))
end
