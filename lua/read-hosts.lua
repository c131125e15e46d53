-- Hosts' heartbeats and Redis' time, read at one moment: a heartbeat's age is Redis' time
-- now minus the Redis time it was written at, never the reader's own clock.
--
-- KEYS[1] the hosts hash
-- ARGV    host ids to read; none: every host
-- Returns { Redis' time in ms, host id, heartbeat JSON, host id, heartbeat JSON, ... }
-- (a host named in ARGV without a heartbeat is left out).
local t = redis.call('TIME')
local out
if #ARGV == 0 then
  out = redis.call('HGETALL', KEYS[1])
else
  out = {}
  for _, host in ipairs(ARGV) do
    local v = redis.call('HGET', KEYS[1], host)
    if v then
      out[#out + 1] = host
      out[#out + 1] = v
    end
  end
end
table.insert(out, 1, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
return out
