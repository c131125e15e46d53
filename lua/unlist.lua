-- Drops an id from a host's live index unless its record (on that host) became live again
-- since the caller read it.
--
-- KEYS[1] the host's live index   KEYS[2] record hash
-- ARGV[1] process id              ARGV[2] host id
-- Returns 1 if removed, 0 if kept.
local json = redis.call('HGET', KEYS[2], 'r')
if json then
  local r = cjson.decode(json)
  local final = r.state == 'stopped' or r.state == 'exited' or r.state == 'failed' or r.state == 'lost'
  if r.host == ARGV[2] and not final then return 0 end
end
redis.call('SREM', KEYS[1], ARGV[1])
return 1
