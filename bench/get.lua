-- wrk script: GET /tenants/{tenant}/corpus/{id}, cycling through the seeded entry ids.
--
-- Environment (set by bench/run.sh):
--   BENCH_TOKEN   API token with corpus:read (sent as a Bearer token)
--   BENCH_IDS     file of entry ids, one per line (written by bench/seed.py)
--   BENCH_TENANT  tenant slug (default "bench")
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

setup = common.setup
done = common.done

local ids, prefix
local n = 0

function init(args)
  ids = common.read_lines(os.getenv("BENCH_IDS"))
  prefix = "/tenants/" .. (os.getenv("BENCH_TENANT") or "bench") .. "/corpus/"
  -- Threads walk the list from different points, with a stride that spreads the reads.
  n = ((thread_id or 1) - 1 + (tonumber(os.getenv("BENCH_THREAD_OFFSET")) or 0)) * 7919
  local token = os.getenv("BENCH_TOKEN")
  assert(token and token ~= "", "BENCH_TOKEN not set")
  wrk.headers["Authorization"] = "Bearer " .. token
end

function request()
  n = n + 1
  return wrk.format("GET", prefix .. ids[((n * 104729) % #ids) + 1])
end

function response(status, headers, body)
  common.remember(status, body)
end
