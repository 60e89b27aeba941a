-- GET /authorize with a logged-in session and remembered consent: each request a new state and
-- a new S256 challenge (43 random base64url characters: the code is never redeemed, so no
-- verifier is needed), answered 303 to the client's redirect URI with a code.
-- wrk ... -s authorize.lua URL/authorize -- COOKIE_FILE CLIENT_ID REDIRECT_URI SCOPE
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")
common.expected = 303

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local prefix, n

function setup(thread) common.setup(thread) end

function init(args)
  local file = assert(io.open(args[1], "r"))
  local cookie = file:read("*a"):gsub("%s+$", "")
  file:close()
  prefix = wrk.path .. "?response_type=code&client_id=" .. common.urlencode(args[2]) ..
    "&redirect_uri=" .. common.urlencode(args[3]) .. "&scope=" .. common.urlencode(args[4]) ..
    "&code_challenge_method=S256&code_challenge="
  wrk.headers["Cookie"] = cookie
  math.randomseed(os.time() * 1000 + (tid or 0))
  n = 0
end

local function challenge()
  local chars = {}
  for k = 1, 43 do
    local j = math.random(1, 64)
    chars[k] = ALPHABET:sub(j, j)
  end
  return table.concat(chars)
end

function request()
  n = n + 1
  return wrk.format("GET", prefix .. challenge() .. "&state=s" .. tostring(n))
end

function response(status, headers, body) common.count(status, body) end

function done(summary, latency, requests) common.done(summary, latency, requests) end
