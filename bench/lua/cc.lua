-- client_credentials grant (RFC 6749 §4.4) with client_secret_basic: the same request every
-- time (a confidential client's id and secret in the Authorization header, a resource scope).
-- wrk ... -s cc.lua URL/token -- BASIC_CREDENTIALS SCOPE [RESOURCE]
-- BASIC_CREDENTIALS is base64(urlencode(id) ":" urlencode(secret)) (RFC 6749 §2.3.1), made by
-- bench/run.py: wrk's LuaJIT has no base64.
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

function setup(thread) common.setup(thread) end

function init(args)
  local basic, scope, resource = args[1], args[2], args[3]
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Authorization"] = "Basic " .. basic
  wrk.body = "grant_type=client_credentials&scope=" .. common.urlencode(scope)
  if resource and #resource > 0 then
    wrk.body = wrk.body .. "&resource=" .. common.urlencode(resource)
  end
end

function response(status, headers, body)
  if status == 200 and not body:find('"access_token"', 1, true) then status = 599 end
  common.count(status, body)
end

function done(summary, latency, requests) common.done(summary, latency, requests) end
