-- wrk script: POST /v1/api-keys/batch with BATCH (default 100) keys per request,
-- X-API-Key: $ADMIN_KEY (batch-creation throughput: keys/s = requests/s x BATCH).
local headers = { ["Content-Type"] = "application/json" }
local body
init = function(args)
  local admin = os.getenv("ADMIN_KEY")
  if admin == nil or #admin == 0 then error("ADMIN_KEY is not set") end
  headers["X-API-Key"] = admin
  local n = tonumber(os.getenv("BATCH") or "100")
  local items = {}
  for i = 1, n do items[i] = '{"name":"bench-batch","scopes":["sandbox:read"]}' end
  body = '{"keys":[' .. table.concat(items, ",") .. ']}'
end
request = function()
  return wrk.format("POST", "/v1/api-keys/batch", headers, body)
end
