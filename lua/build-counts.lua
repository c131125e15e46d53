-- Recounts every record into the counts hash and marks it built, atomically, so no append
-- is counted twice or missed (run once on a Redis written by an older version).
--
-- KEYS[1] all-index   KEYS[2] counts hash   KEYS[3] built marker
-- KEYS[4] the record key of id '' (its name minus the id is every record key's prefix)
-- Returns 1 when it counted, 0 if already built.
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local json = redis.call('HGET', KEYS[4] .. id, 'r')
  if json then
    local r = cjson.decode(json)
    local host = r.host
    if type(host) ~= 'string' then host = '' end
    redis.call('HINCRBY', KEYS[2], r.state .. ' ' .. host, 1)
  end
end
redis.call('SET', KEYS[3], '1')
return 1
