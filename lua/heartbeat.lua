-- Writes a host's heartbeat stamped with Redis' own clock: every reader judges its age
-- against Redis' clock too (lua/read-hosts.lua), so hosts whose wall clocks disagree by
-- hours still agree on who is alive. (TIME in a script that writes: Redis 5+ replicates
-- a script's effects, not the script.)
--
-- KEYS[1] the hosts hash
-- ARGV[1] host id
-- ARGV[2] the heartbeat as a JSON object, without `at`
-- Returns Redis' time in ms, which the worker compares with its own clock.
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local body = ARGV[2]
redis.call('HSET', KEYS[1], ARGV[1], string.sub(body, 1, -2) .. ',"at":' .. string.format('%d', ms) .. '}')
return ms
