-- wrk script: POST /v1/keys/verify {"key":"<random key from keys.txt>"}, authenticated with
-- X-API-Key: $ADMIN_KEY (any key holding keys:verify). KEYS_FILE overrides keys.txt,
-- VERIFY_PATH overrides the path. The same requests as the better-auth peer's verify.lua
-- (a random key per request), but formatted once in init: formatting each request in Lua
-- took a fifth of wrk's core at 50,000 requests/s, and wrk's own delays count in latency.
-- All keys being as long, each request is a prefix, its key and a suffix, formatted once:
-- wrk.format for each of a million keys kept wrk from sending anything for ~4 s, which a
-- restart under load must not wait for (bench/scale.sh).
-- VERIFY_ORDER=seq: the keys in the file's order, over and over (run it with -t1): one pass
-- warms a server's key cache with a working set (wrk cannot stop itself before -d: the caller
-- stops it, bench/scale.sh after one pass by the server's latchkey_verify_total).
local requests = {}
local path = os.getenv("VERIFY_PATH") or "/v1/keys/verify"
local admin = os.getenv("ADMIN_KEY")
local seq = os.getenv("VERIFY_ORDER") == "seq"
local sent = 0
init = function(args)
  if admin == nil or #admin == 0 then error("ADMIN_KEY is not set") end
  local headers = { ["Content-Type"] = "application/json", ["X-API-Key"] = admin }
  local prefix, suffix, len
  for line in io.lines(os.getenv("KEYS_FILE") or "keys.txt") do
    if #line > 0 then
      if #line ~= len then
        local whole = wrk.format("POST", path, headers, '{"key":"' .. line .. '"}')
        local at = whole:find(line, 1, true)
        prefix, suffix, len = whole:sub(1, at - 1), whole:sub(at + #line), #line
      end
      requests[#requests + 1] = prefix .. line .. suffix
    end
  end
  if #requests == 0 then error("no keys in " .. (os.getenv("KEYS_FILE") or "keys.txt")) end
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end
request = function()
  if seq then
    sent = sent + 1
    return requests[(sent - 1) % #requests + 1]
  end
  return requests[math.random(#requests)]
end
