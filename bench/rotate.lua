-- wrk script: each request asks for the next path of the file named by $PATHS (one path
-- per line), round robin, so a run covers many documents rather than one hot one.
-- Headers given with -H still apply (wrk.format uses wrk.headers).
local paths = {}
for line in io.lines(os.getenv("PATHS")) do
    paths[#paths + 1] = line
end
local next_index = math.random(#paths)

request = function()
    next_index = next_index % #paths + 1
    return wrk.format(nil, paths[next_index])
end
