-- SPDX-License-Identifier: MIT
-- One request per round trip (wrk's default request); adds the JSON report.
-- Also used for connection-per-request runs, with -H "Connection: close".
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")
