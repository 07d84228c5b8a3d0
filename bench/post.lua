-- wrk script: POST /tenants/{tenant}/corpus, small realistic entries with unique titles.
-- Only 201 Created answers are counted as writes (the BENCH line's `created`).
--
-- Environment (set by bench/run.sh):
--   BENCH_TOKEN   API token with corpus:write (sent as a Bearer token)
--   BENCH_TENANT  tenant slug (default "writes")
--   BENCH_RUN_ID  makes titles unique across runs (default: the time)
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

setup = common.setup
done = common.done

local WORDS = {
  "account", "refund", "delivery", "order", "invoice", "password", "shipping", "support",
  "warranty", "subscription", "payment", "return", "exchange", "discount", "coupon", "store",
  "the", "of", "and", "to", "a", "in", "is", "for", "with", "your", "can", "within", "days",
  "livraison", "commande", "facture", "compte", "remboursement", "abonnement", "magasin",
  "de", "la", "le", "et", "les", "des", "pour", "dans", "votre", "jours", "sous", "avec",
  "customers", "request", "contact", "email", "phone", "hours", "monday", "friday", "team",
  "product", "price", "policy", "update", "settings", "profile", "security", "login", "reset",
}

local bodies = {}
local path, prefix
local n = 0

-- ~300-1100 bytes of sentences built from the word list (deterministic per thread).
local function content(len)
  local parts, size = {}, 0
  while size < len do
    local words = {}
    for i = 1, math.random(6, 14) do words[i] = WORDS[math.random(#WORDS)] end
    local s = table.concat(words, " ")
    s = s:sub(1, 1):upper() .. s:sub(2) .. "."
    parts[#parts + 1] = s
    size = size + #s + 1
  end
  return table.concat(parts, " ")
end

function init(args)
  math.randomseed(1000 + (thread_id or 1))
  path = "/tenants/" .. (os.getenv("BENCH_TENANT") or "writes") .. "/corpus"
  prefix = "Bench note " .. (os.getenv("BENCH_RUN_ID") or tostring(os.time())) .. "-" ..
    tostring(thread_id or 0) .. "-"
  -- A pool of bodies (title suffix added per request) keeps the client cheap.
  for i = 1, 256 do
    local tags = { WORDS[math.random(#WORDS)], WORDS[math.random(#WORDS)] }
    bodies[i] = '","content":' .. common.json_string(content(math.random(300, 1100))) ..
      ',"tags":["' .. tags[1] .. '","' .. tags[2] .. '"]}'
  end
  local token = os.getenv("BENCH_TOKEN")
  assert(token and token ~= "", "BENCH_TOKEN not set")
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  local body = '{"title":"' .. prefix .. n .. ' ' .. WORDS[(n % #WORDS) + 1] ..
    bodies[(n % #bodies) + 1]
  return wrk.format("POST", path, nil, body)
end

function response(status, headers, body)
  common.count_created(status)
  common.remember(status, body)
end
