-- Renews a worker's lease on its host id (lua/claim-host.lua), or puts it back when it
-- lapsed with no one else taking it (Redis was away longer than the ttl).
--
-- KEYS[1] the host's lease key
-- ARGV[1] the holder's value, as claimed
-- ARGV[2] ttl in ms
-- Returns {1} when renewed, {0, the value found} when another worker holds the host id.
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return { 0, cur } end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return { 1 }
