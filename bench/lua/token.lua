-- POST /token with one pre-minted code and its own PKCE verifier per request.
-- wrk ... -s token.lua URL/token -- CODES_FILE CLIENT_ID REDIRECT_URI NTHREADS
-- CODES_FILE has "code verifier" lines, or "code verifier proof" lines for the DPoP variant
-- (each request then sends its own DPoP header); thread k of n takes lines k, k+n, k+2n, ...
-- Running out of codes re-sends the last one (a 400 that fails the run and sets "exhausted").
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

local codes, proofs, n, i = {}, {}, 0, 0
local prefix

function setup(thread) common.setup(thread) end

function init(args)
  local path, client_id, redirect_uri, nthreads = args[1], args[2], args[3], tonumber(args[4] or "1")
  local line_no = 0
  for line in io.lines(path) do
    local code, verifier, proof = line:match("^(%S+) (%S+) ?(%S*)$")
    if code then
      if line_no % nthreads == tid then
        n = n + 1
        codes[n] = "&code=" .. common.urlencode(code) .. "&code_verifier=" .. common.urlencode(verifier)
        if proof ~= "" then proofs[n] = proof end
      end
      line_no = line_no + 1
    end
  end
  prefix = "grant_type=authorization_code&client_id=" .. common.urlencode(client_id) ..
    "&redirect_uri=" .. common.urlencode(redirect_uri)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  i = i + 1
  if i > n then
    exhausted = exhausted + 1
    i = n
  end
  if proofs[i] then
    return wrk.format(nil, nil, {["Content-Type"] = "application/x-www-form-urlencoded",
                                 ["DPoP"] = proofs[i]}, prefix .. codes[i])
  end
  return wrk.format(nil, nil, nil, prefix .. codes[i])
end

function response(status, headers, body) common.count(status, body) end

function done(summary, latency, requests) common.done(summary, latency, requests) end
