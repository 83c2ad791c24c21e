-- POST events to the ingestion API (or to the do-nothing ceiling, which has the same path).
--
--   wrk ... -s ingest.lua http://host:port/api/logs/<app_id>[/batch] -- \
--       TEMPLATES MODE BATCH_SIZE MAX_REQUESTS_PER_THREAD RUN_PREFIX API_KEY
--
-- MODE is "single" (one event per request) or "batch" ({"events": [...]} of BATCH_SIZE).
-- Every event gets a unique eventId: RUN_PREFIX, the thread number and a counter.
-- A thread stops after MAX_REQUESTS_PER_THREAD answers (0: no limit).
-- done() prints one line, "WRK_RESULT <json>", which bench/wrk.py parses.

local threads = {}
local thread_count = 0

function setup(thread)
    thread_count = thread_count + 1
    thread:set("id", thread_count)
    table.insert(threads, thread)
end

function init(args)
    templates = dofile(args[1])
    mode = args[2]
    batch_size = tonumber(args[3])
    max_answers = tonumber(args[4])
    prefix = args[5] .. "-" .. id .. "-"
    headers = { ["Content-Type"] = "application/json", ["X-API-Key"] = args[6] }
    math.randomseed(os.time() * 1000 + id)
    counter = 0
    answers = 0
    status_202 = 0
    non_202 = 0
    accepted = 0
end

local function event()
    counter = counter + 1
    return '{"eventId":"' .. prefix .. counter .. '",' .. templates[math.random(#templates)]
end

function request()
    local body
    if mode == "batch" then
        local parts = {}
        for i = 1, batch_size do
            parts[i] = event()
        end
        body = '{"events":[' .. table.concat(parts, ",") .. "]}"
    else
        body = event()
    end
    return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
    answers = answers + 1
    if status == 202 then
        status_202 = status_202 + 1
        if mode == "batch" then
            accepted = accepted + (tonumber(string.match(body, '"accepted":(%d+)')) or 0)
        else
            accepted = accepted + 1
        end
    else
        non_202 = non_202 + 1
    end
    if max_answers > 0 and answers >= max_answers then
        wrk.thread:stop()
    end
end

function done(summary, latency, requests)
    local ok, other, events = 0, 0, 0
    for _, thread in ipairs(threads) do
        ok = ok + thread:get("status_202")
        other = other + thread:get("non_202")
        events = events + thread:get("accepted")
    end
    local e = summary.errors
    io.write(string.format(
        'WRK_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
        '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
        '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"mean":%.1f,"max":%d},' ..
        '"status_202":%d,"non_202":%d,"accepted":%d}\n',
        summary.requests, summary.duration, summary.bytes,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99),
        latency.mean, latency.max, ok, other, events))
end
