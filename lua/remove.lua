-- Deletes a record with its streams and index entries, only if it is still at the
-- version the caller judged (a restart scheduled meanwhile keeps it).
--
-- KEYS[1] record hash    KEYS[2] event stream    KEYS[3] log stream
-- KEYS[4] all-index      KEYS[5] host index      KEYS[6] pending index
-- KEYS[7] archive list   KEYS[8] host live index KEYS[9] counts hash
-- KEYS[10] usage hash (field: process id)   KEYS[11] the event stream moved aside as corrupt
-- KEYS[12] host ended index
-- ARGV[1] judged version  ARGV[2] process id  ARGV[3] host ('' for none)
-- ARGV[4] the record's counts field
-- Returns 1 if deleted, 0 if the record changed.
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[7], KEYS[11])
redis.call('HDEL', KEYS[10], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[2])
if ARGV[3] ~= '' then
  redis.call('SREM', KEYS[5], ARGV[2])
  redis.call('SREM', KEYS[8], ARGV[2])
  redis.call('ZREM', KEYS[12], ARGV[2])
end
redis.call('HINCRBY', KEYS[9], ARGV[4], -1)
redis.call('SREM', KEYS[6], ARGV[2])
return 1
