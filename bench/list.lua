-- wrk script: GET /tenants/{tenant}/corpus?page=N&limit=20, pages spread over the whole corpus.
--
-- Environment (set by bench/run.sh):
--   BENCH_TOKEN   API token with corpus:read (sent as a Bearer token)
--   BENCH_PAGES   number of 20-entry pages the corpus has (pages 1..BENCH_PAGES are read)
--   BENCH_TENANT  tenant slug (default "bench")
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

setup = common.setup
done = common.done

local pages, path
local n = 0

function init(args)
  pages = tonumber(os.getenv("BENCH_PAGES") or "")
  assert(pages and pages >= 1, "BENCH_PAGES not set")
  path = "/tenants/" .. (os.getenv("BENCH_TENANT") or "bench") .. "/corpus?limit=20&page="
  n = ((thread_id or 1) - 1 + (tonumber(os.getenv("BENCH_THREAD_OFFSET")) or 0)) * 7919
  local token = os.getenv("BENCH_TOKEN")
  assert(token and token ~= "", "BENCH_TOKEN not set")
  wrk.headers["Authorization"] = "Bearer " .. token
end

function request()
  n = n + 1
  -- A prime stride: every page is visited, first ones and deep ones alike.
  return wrk.format("GET", path .. tostring(((n * 7919) % pages) + 1))
end

function response(status, headers, body)
  common.remember(status, body)
end
