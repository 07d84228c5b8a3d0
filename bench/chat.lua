-- wrk script: POST /chat/{tenant} (JSON, stream false), one new conversation per request.
--
-- Environment (set by bench/run.sh):
--   BENCH_QUESTIONS  file of questions, one per line (written by bench/seed.py: needle
--                    questions interleaved with random-word questions)
--   BENCH_TENANT     tenant slug (default "bench")
--   BENCH_RUN_ID     makes session ids unique across runs (default: the time)
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

setup = common.setup
done = common.done

local questions, path, prefix
local n = 0

function init(args)
  questions = common.read_lines(os.getenv("BENCH_QUESTIONS"))
  path = "/chat/" .. (os.getenv("BENCH_TENANT") or "bench")
  prefix = "bench-" .. (os.getenv("BENCH_RUN_ID") or tostring(os.time())) .. "-" ..
    tostring(thread_id or 0) .. "-"
  -- Threads start at different points of the list.
  n = ((thread_id or 1) - 1 + (tonumber(os.getenv("BENCH_THREAD_OFFSET")) or 0)) * 7919
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  local body = '{"message":' .. common.json_string(questions[(n % #questions) + 1]) ..
    ',"sessionId":"' .. prefix .. n .. '","stream":false}'
  return wrk.format("POST", path, nil, body)
end

function response(status, headers, body)
  common.remember(status, body)
end
