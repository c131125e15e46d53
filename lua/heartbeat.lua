-- Writes a host's heartbeat stamped with Redis' own clock: every reader judges its age
-- against Redis' clock too (lua/read-hosts.lua), so hosts whose wall clocks disagree by
-- hours still agree on who is alive. (TIME in a script that writes: Redis 5+ replicates
-- a script's effects, not the script.) Fenced by the host id's lease (lua/claim-host.lua):
-- a worker frozen past its lease and thawed after another worker took its host id over
-- writes nothing, so it never hides the new owner's beat.
--
-- KEYS[1] the hosts hash
-- KEYS[2] the host id's lease key
-- ARGV[1] host id
-- ARGV[2] the heartbeat as a JSON object, without `at`
-- ARGV[3] the writer's lease value, as claimed
-- Returns {1, Redis' time in ms} (which the worker compares with its own clock), or
-- {0, the holder's lease value} when another worker holds the lease: nothing written. A
-- lease that lapsed with nobody taking it is still the writer's (its renewal puts it back).
local cur = redis.call('GET', KEYS[2])
if cur and cur ~= ARGV[3] then return { 0, cur } end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local body = ARGV[2]
redis.call('HSET', KEYS[1], ARGV[1], string.sub(body, 1, -2) .. ',"at":' .. string.format('%d', ms) .. '}')
return { 1, ms }
