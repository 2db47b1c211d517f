-- wrk script: POST /v1/keys/verify {"key":"<random key from keys.txt>"}, authenticated with
-- X-API-Key: $ADMIN_KEY (any key holding keys:verify). KEYS_FILE overrides keys.txt,
-- VERIFY_PATH overrides the path. Mirrors the better-auth peer's verify.lua.
local keys = {}
local path = os.getenv("VERIFY_PATH") or "/v1/keys/verify"
local admin = os.getenv("ADMIN_KEY")
local headers = { ["Content-Type"] = "application/json" }
init = function(args)
  if admin == nil or #admin == 0 then error("ADMIN_KEY is not set") end
  headers["X-API-Key"] = admin
  for line in io.lines(os.getenv("KEYS_FILE") or "keys.txt") do
    if #line > 0 then keys[#keys + 1] = line end
  end
  if #keys == 0 then error("no keys in " .. (os.getenv("KEYS_FILE") or "keys.txt")) end
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end
request = function()
  local k = keys[math.random(#keys)]
  return wrk.format("POST", path, headers, '{"key":"' .. k .. '"}')
end
