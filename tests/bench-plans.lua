-- wrk script for tests/bench.sh: GET or PATCH the plan of a random family
-- among those listed in $BENCH_FAMILIES (one id a line). PATCH sends
-- If-Match: * (the plan exists): wrk cannot track each connection's ETag,
-- and the precondition path costs the same either way.
local ids = {}
for line in io.lines(os.getenv("BENCH_FAMILIES")) do ids[#ids + 1] = line end
local mode = os.getenv("BENCH_PLAN_MODE") or "get"
local n = 0

request = function()
  n = n + 1
  local id = ids[math.random(#ids)]
  local path = "/v1/families/" .. id .. "/plan"
  if mode == "patch" then
    -- headers given here replace wrk.headers (which hold the token): merge them
    local headers = {["Content-Type"] = "application/merge-patch+json", ["If-Match"] = "*"}
    for k, v in pairs(wrk.headers) do headers[k] = v end
    return wrk.format("PATCH", path, headers, '{"strengths":["benchmark ' .. n .. '"]}')
  end
  return wrk.format("GET", path)
end
