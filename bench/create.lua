-- wrk script: POST /v1/api-keys {"name":"bench-create"} with X-API-Key: $ADMIN_KEY
-- (key-create throughput; every request mints and stores one key).
local headers = { ["Content-Type"] = "application/json" }
init = function(args)
  local admin = os.getenv("ADMIN_KEY")
  if admin == nil or #admin == 0 then error("ADMIN_KEY is not set") end
  headers["X-API-Key"] = admin
end
request = function()
  return wrk.format("POST", "/v1/api-keys", headers, '{"name":"bench-create"}')
end
