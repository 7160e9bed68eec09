-- wrk script: replay pre-signed webhook requests, each exactly once, then report as JSON.
-- Usage: wrk -t T -c C -d D -s bench/intake.lua URL -- <files prefix> once|cycle
-- Thread i reads "<files prefix>.<i>" (requests separated by NUL bytes) and sends them in
-- order. With "once", a thread that runs out stops, so no request is ever sent twice; with
-- "cycle" (the generator-ceiling run, against a server that ignores the content) it starts over.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("part", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1] .. "." .. part, "rb"))
  local data = file:read("*a")
  file:close()
  pool = {}
  local position = 1
  while true do
    local stop = string.find(data, "\0", position, true)
    if stop == nil then break end
    pool[#pool + 1] = string.sub(data, position, stop - 1)
    position = stop + 1
  end
  cycle = args[2] == "cycle"
  sent = 0
  exhausted = false
end

function request()
  if sent >= #pool and cycle then
    sent = 0
  elseif sent >= #pool then
    -- Out of fresh requests: stop this thread. wrk still needs a string; an empty one
    -- writes nothing, and the loop ends before another request is made.
    exhausted = true
    wrk.thread:stop()
    return ""
  end
  sent = sent + 1
  return pool[sent]
end

function done(summary, latency, requests)
  local sent_per_part = {}
  local exhausted_any = false
  for _, thread in ipairs(threads) do
    sent_per_part[thread:get("part") + 1] = thread:get("sent")
    exhausted_any = exhausted_any or thread:get("exhausted")
  end
  local parts = {}
  for i, n in ipairs(sent_per_part) do parts[i] = tostring(n) end
  local e = summary.errors
  io.write(string.format(
    '\n@@RESULT {"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d},' ..
    '"sent_per_part":[%s],"exhausted":%s}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max,
    table.concat(parts, ","), tostring(exhausted_any)))
end
