-- Shared by the wrk scripts in bench/lua: status counting and a JSON summary line.
-- wrk gives each thread its own Lua state; counters live there and done() (main state) reads
-- them back through thread:get(). Every response whose status is not the expected one is
-- counted and reported: bench/run.py counts a run only when there are none.
local M = {}

M.threads = {}
M.expected = 200

function M.urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

-- Per-thread counters (globals in the thread's state, read by done()).
ok_count = 0
bad_count = 0
exhausted = 0
bad_statuses = ""
first_bad_body = ""

function M.count(status, body)
  if status == M.expected then
    ok_count = ok_count + 1
  else
    bad_count = bad_count + 1
    if #bad_statuses < 200 then bad_statuses = bad_statuses .. tostring(status) .. " " end
    if first_bad_body == "" and body then
      first_bad_body = body:sub(1, 160):gsub('[%c"\\]', " ")
    end
  end
end

function M.setup(thread)
  table.insert(M.threads, thread)
  thread:set("tid", #M.threads - 1)
end

function M.done(summary, latency, requests)
  local ok, bad, ex, statuses, first = 0, 0, 0, "", ""
  for _, t in ipairs(M.threads) do
    ok = ok + (t:get("ok_count") or 0)
    bad = bad + (t:get("bad_count") or 0)
    ex = ex + (t:get("exhausted") or 0)
    statuses = statuses .. (t:get("bad_statuses") or "")
    if first == "" then first = t:get("first_bad_body") or "" end
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"ok":%d,"non_expected":%d,"exhausted":%d,' ..
    '"bad_statuses":"%s","first_bad_body":"%s","connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
    '"status_errors":%d,"timeouts":%d,"lat_p50_us":%d,"lat_p90_us":%d,"lat_p99_us":%d,' ..
    '"lat_max_us":%d,"lat_mean_us":%.1f}\n',
    summary.requests, summary.duration, ok, bad, ex, statuses, first, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end

return M
