-- refresh_token grant with rotation: each refresh token is used exactly once.
-- wrk ... -s refresh.lua URL/token -- TOKENS_FILE CLIENT_ID NTHREADS
-- A queue of live refresh tokens per thread: request() takes one, response() puts the rotated
-- successor from the body back. The queue starts with more tokens than connections, so a
-- request never waits; a response without a new refresh token loses one (counted as an error).
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

local queue, head, tail = {}, 1, 0
local prefix

function setup(thread) common.setup(thread) end

function init(args)
  local path, client_id, nthreads = args[1], args[2], tonumber(args[3] or "1")
  local line_no = 0
  for line in io.lines(path) do
    if #line > 0 then
      if line_no % nthreads == tid then
        tail = tail + 1
        queue[tail] = line
      end
      line_no = line_no + 1
    end
  end
  prefix = "grant_type=refresh_token&client_id=" .. common.urlencode(client_id) .. "&refresh_token="
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

local last
function request()
  local token
  if head <= tail then
    token = queue[head]
    queue[head] = nil
    head = head + 1
    last = token
  else
    exhausted = exhausted + 1
    token = last or "none" -- a reuse: refused, and the run does not count
  end
  return wrk.format(nil, nil, nil, prefix .. common.urlencode(token))
end

function response(status, headers, body)
  common.count(status, body)
  if status == 200 then
    local successor = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if successor then
      tail = tail + 1
      queue[tail] = successor
    end
  end
end

function done(summary, latency, requests) common.done(summary, latency, requests) end
