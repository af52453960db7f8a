-- wrk script: cycle through the comma-separated paths in BENCH_PATHS, one per
-- request, so one run exercises every handler of the module (used by the RSS soak).
local paths = {}
for p in string.gmatch(os.getenv("BENCH_PATHS") or "/", "[^,]+") do
  paths[#paths + 1] = p
end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
