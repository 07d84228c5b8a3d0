-- Helpers shared by the wrk scripts in bench/ (each script loads this file with dofile).
-- wrk runs one Lua state per thread plus one for setup()/done(); this file is loaded in each.
local M = {}

-- Lines of a UTF-8 text file, blank lines skipped. Fails loudly if the file is missing.
function M.read_lines(path)
  assert(path and path ~= "", "file path not set (see bench/run.sh)")
  local f = assert(io.open(path, "r"))
  local lines = {}
  for line in f:lines() do
    if line ~= "" then lines[#lines + 1] = line end
  end
  f:close()
  assert(#lines > 0, path .. " is empty")
  return lines
end

-- A JSON string literal (UTF-8 passes through; quotes, backslashes and controls are escaped).
function M.json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' elseif c == "\\" then return "\\\\" end
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

-- Percent-encoding for a query-string value.
function M.url_encode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- setup()/done() pair that numbers the threads and, at the end, prints one machine-readable
-- BENCH line (latencies in microseconds) plus the first non-2xx answer any thread saw.
local threads = {}
function M.setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread_id", #threads)
end

-- Counts 201 Created answers (for write scenarios) in the thread-global `created`.
function M.count_created(status)
  if status == 201 then created = (created or 0) + 1 end
end

function M.remember(status, body)
  if status >= 300 and first_error == nil then
    first_error = "HTTP " .. status .. ": " .. (body or ""):sub(1, 400):gsub("%s+", " ")
  end
end

local function total_created()
  local n = 0
  for _, t in ipairs(threads) do n = n + (t:get("created") or 0) end
  return n
end

function M.done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d mean_us=%.0f max_us=%d " ..
    "non2xx=%d connect=%d read=%d write=%d timeout=%d created=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max, e.status, e.connect, e.read, e.write,
    e.timeout, total_created()))
  for _, t in ipairs(threads) do
    local err = t:get("first_error")
    if err then
      io.write("BENCH_FIRST_ERROR " .. err .. "\n")
      break
    end
  end
end

return M
