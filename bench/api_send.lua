-- wrk script of bench/api_send.py: every request sends one number never used before in the run.
-- Arguments (after "--"): the first number of this run, and the request body's JSON template with
-- %s where the mobile number goes. Prints one JSON line of figures when done.
local prefixes = {"50", "55", "65", "66", "90", "94", "97", "99"}  -- as MOBILE_PREFIXES in api_send.py
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  number = tonumber(args[1]) + id * 100000  -- 100,000 numbers per thread: far more than 23 s can use
  template = args[2]
  failed = 0
  headers = {["Content-Type"] = "application/json", ["Connection"] = "close"}
end

function request()
  local block = math.floor(number / 1000000)
  local mobile = string.format("965%s%06d", prefixes[block % 8 + 1], number % 1000000)
  number = number + 1
  return wrk.format("POST", "/API/send/", headers, string.format(template, mobile))
end

function response(status, response_headers, body)
  if status ~= 200 or not string.find(body, '"result": *"OK"') then
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local failed_total = 0
  for _, thread in ipairs(threads) do
    failed_total = failed_total + thread:get("failed")
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "failed": %d, "socket_errors": %d, "p50_us": %d, "p99_us": %d, "duration_us": %d}\n',
    summary.requests, failed_total, errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99), summary.duration))
end
