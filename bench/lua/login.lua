-- Password login at proofkey's /account/login: the same form (username, password and the CSRF
-- token bound to a fixed browser cookie) on every request; success is a 303 with a new session.
-- wrk ... -s login.lua URL/account/login -- BROWSER_COOKIE CSRF USERNAME PASSWORD
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")
common.expected = 303

function setup(thread) common.setup(thread) end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Cookie"] = "pk_browser=" .. args[1]
  wrk.body = "csrf=" .. common.urlencode(args[2]) .. "&username=" .. common.urlencode(args[3]) ..
    "&password=" .. common.urlencode(args[4])
end

function response(status, headers, body) common.count(status, body) end

function done(summary, latency, requests) common.done(summary, latency, requests) end
