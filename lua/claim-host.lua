-- Claims a host id for one worker: a lease (a key with a ttl) the worker renews every
-- beat. Another live worker's lease is not taken: a second worker with the same host id
-- would adopt, signal and reap the first one's processes.
--
-- KEYS[1] the host's lease key
-- ARGV[1] the claimant's token
-- ARGV[2] the claimant as a JSON object (token, pid, machine...), without `since`
-- ARGV[3] ttl in ms
-- ARGV[4] a holder's exact value the claimant showed to be dead ('' for none): taken over
-- Returns {1, value} when claimed, {0, holder's value, its pttl} when another holds it.
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[4] then
  local ok, h = pcall(cjson.decode, cur)
  if not (ok and type(h) == 'table' and h.token == ARGV[1]) then
    return { 0, cur, redis.call('PTTL', KEYS[1]) }
  end
end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = string.sub(ARGV[2], 1, -2) .. ',"since":' .. string.format('%d', ms) .. '}'
redis.call('SET', KEYS[1], v, 'PX', ARGV[3])
return { 1, v }
