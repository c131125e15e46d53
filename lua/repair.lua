-- Rewrites one record and its index entries as its events say (reapq fsck --repair), and
-- appends the `repaired` event saying what changed, in one atomic step fenced twice: the
-- record hash is still at the version fsck judged, and its events still end where fsck
-- folded them. Kills nothing and starts nothing.
--
-- KEYS[1] record hash   KEYS[2] event stream   KEYS[3] archive list   KEYS[4] global stream
-- KEYS[4+i] the key of index op i
-- The counts are not touched here: they followed the projection, not the events, so fsck
-- recounts them from the repaired records afterwards.
-- ARGV[1] judged record version (0: no record hash)
-- ARGV[2] judged version of the last event (0: no events)
-- ARGV[3] repaired record JSON ('' to write no record and no event: an id without either)
-- ARGV[4] its version   ARGV[5] its run ('' for none)   ARGV[6] the `repaired` event JSON
-- ARGV[7] process id    ARGV[8] global stream MAXLEN
-- ARGV[9..] three per index op: op, field or member, value or score
--   sadd/srem/zrem member _ | zadd member score | hdel-if field value | hsetnx field value
-- Returns 1 when applied, 0 when the record moved on since fsck read it.
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return 0 end
local top = 0
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if last[1] then
  top = tonumber(string.match(last[1][1], '^(%d+)-')) or -1
else
  local a = redis.call('LINDEX', KEYS[3], -1)
  if a then top = tonumber(string.match(a, '^(%d+) ')) or -1 end
end
if top ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] ~= '' then
  redis.call('XADD', KEYS[2], ARGV[4] .. '-0', 'e', ARGV[6])
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[8], '*', 'id', ARGV[7], 'v', ARGV[4], 'e', ARGV[6])
  redis.call('HSET', KEYS[1], 'v', ARGV[4], 'r', ARGV[3])
  if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'run', ARGV[5]) end
end
for i = 0, (#ARGV - 8) / 3 - 1 do
  local key, op, a, b = KEYS[5 + i], ARGV[9 + 3 * i], ARGV[10 + 3 * i], ARGV[11 + 3 * i]
  if op == 'sadd' then redis.call('SADD', key, a)
  elseif op == 'srem' then redis.call('SREM', key, a)
  elseif op == 'zrem' then redis.call('ZREM', key, a)
  elseif op == 'zadd' then redis.call('ZADD', key, b, a)
  elseif op == 'hdel-if' then
    if redis.call('HGET', key, a) == b then redis.call('HDEL', key, a) end
  elseif op == 'hsetnx' then redis.call('HSETNX', key, a, b)
  end
end
return 1
