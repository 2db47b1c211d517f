-- wrk script: POST /v1/keys/verify {"key":"<random key from keys.txt>"}, authenticated with
-- X-API-Key: $ADMIN_KEY (any key holding keys:verify). KEYS_FILE overrides keys.txt,
-- VERIFY_PATH overrides the path. The same requests as the better-auth peer's verify.lua
-- (a random key per request), but formatted once in init: formatting each request in Lua
-- took a fifth of wrk's core at 50,000 requests/s, and wrk's own delays count in latency.
-- VERIFY_ORDER=seq: the keys in the file's order, over and over (run it with -t1): one pass
-- warms a server's key cache with a working set (wrk cannot stop itself before -d: the caller
-- stops it, bench/scale.sh after one pass by the server's latchkey_verify_total).
-- VERIFY_LAZY=1: keep only the keys and make each request from them (a prefix, the key, a
-- suffix, all keys being as long): formatting a million requests first takes wrk ~4 s before
-- its first request, which a restart under load must not wait for (bench/scale.sh).
local requests = {}
local lazy = os.getenv("VERIFY_LAZY") == "1"
local prefix, suffix
local path = os.getenv("VERIFY_PATH") or "/v1/keys/verify"
local admin = os.getenv("ADMIN_KEY")
local seq = os.getenv("VERIFY_ORDER") == "seq"
local sent = 0
init = function(args)
  if admin == nil or #admin == 0 then error("ADMIN_KEY is not set") end
  local headers = { ["Content-Type"] = "application/json", ["X-API-Key"] = admin }
  for line in io.lines(os.getenv("KEYS_FILE") or "keys.txt") do
    if #line > 0 then
      requests[#requests + 1] = lazy and line or wrk.format("POST", path, headers, '{"key":"' .. line .. '"}')
    end
  end
  if #requests == 0 then error("no keys in " .. (os.getenv("KEYS_FILE") or "keys.txt")) end
  if lazy then
    local first = requests[1]
    for _, k in ipairs({ requests[2] or first, requests[#requests] }) do
      if #k ~= #first then error("VERIFY_LAZY needs keys of one length") end
    end
    local whole = wrk.format("POST", path, headers, '{"key":"' .. first .. '"}')
    local at = whole:find(first, 1, true)
    prefix, suffix = whole:sub(1, at - 1), whole:sub(at + #first)
  end
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end
request = function()
  local r
  if seq then
    sent = sent + 1
    r = requests[(sent - 1) % #requests + 1]
  else
    r = requests[math.random(#requests)]
  end
  if lazy then return prefix .. r .. suffix end
  return r
end
