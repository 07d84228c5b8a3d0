-- wrk script for the /health baseline: the default request, plus the BENCH summary line.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

setup = common.setup
done = common.done
