-- SPDX-License-Identifier: MIT
-- The TechEmpower plaintext shape: DEPTH requests in one write (default 16,
-- or the first script argument after "--"). wrk counts every response, so
-- requests/s are requests, not batches; latency is per batch.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local batch

function init(args)
  local depth = tonumber(args[1]) or 16
  local requests = {}
  for i = 1, depth do
    requests[i] = wrk.format()
  end
  batch = table.concat(requests)
end

function request()
  return batch
end
