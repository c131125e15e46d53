-- Appends events to a process's stream and stores the projection in one atomic step,
-- guarded by the expected version and by the run fence (src/shared/event-store.ts, append).
-- Stream entry ids are `<version>-0`, so a stream is its own version counter and XRANGE
-- from a version resumes exactly. A stream whose last id is past the record's version was
-- written by something else (a hand edit, a bug): it is renamed to `<stream>:corrupt` so
-- the process can still be appended to, and stopped.
--
-- KEYS[1]  record hash (fields v: version, r: record JSON, run: current run id)
-- KEYS[2]  the process's event stream
-- KEYS[3]  the global (fleet) stream
-- KEYS[4]  all-index (sorted set by createdAt)
-- KEYS[5]  old host's index           KEYS[6]  new host's index
-- KEYS[7]  pending index
-- KEYS[8]  old host's live index      KEYS[9]  new host's live index
-- KEYS[10] counts hash (`<state> <host>` -> n)
-- KEYS[11] old host's ended index     KEYS[12] new host's ended index
-- ARGV[1]  expected version           ARGV[2]  record JSON after the events
-- ARGV[3]  global stream MAXLEN       ARGV[4]  createdAt score
-- ARGV[5]  process id
-- ARGV[6]  old host ('' for none)     ARGV[7]  new host ('' for none)
-- ARGV[8]  run the events are about ('' for none)
-- ARGV[9]  new run id ('' to keep the current one)
-- ARGV[10] '1' if the new state is pending
-- ARGV[11] '1' if the record is live on its host (see Keys.liveIndex)
-- ARGV[12] the record's old counts field ('' for a new record)
-- ARGV[13] its new counts field
-- ARGV[14] now (ms): the score of an id that stops being live on a host
-- ARGV[15] '1' if the record was pending before these events
-- ARGV[16] '1' if the record was live on its old host before them
-- ARGV[17..] one event JSON each
-- Returns {1, version, quarantined} on success, {0, version} on a version conflict,
-- {2, version} when ARGV[8] is not the record's current run.
--
-- Every start and stop runs this a few times, so it does no command it can skip: one read
-- (HMGET), the stream's own check of its last id instead of a read of it, one HSET, and an
-- index written only when the record enters or leaves it (the caller knows both states:
-- the version check proves the record it decided on is the one stored).
local head = redis.call('HMGET', KEYS[1], 'v', 'run')
local cur = tonumber(head[1] or '0')
if cur ~= tonumber(ARGV[1]) then return {0, cur} end
if ARGV[8] ~= '' and (head[2] or '') ~= ARGV[8] then return {2, cur} end
local quarantined = 0
local n = #ARGV - 16
for i = 1, n do
  local v = cur + i
  if i == 1 then
    -- XADD refuses an id at or below the stream's last one: that stream is past the record.
    local ok = redis.pcall('XADD', KEYS[2], v .. '-0', 'e', ARGV[17])
    if type(ok) == 'table' and ok.err then
      -- Only that refusal means the stream is past the record: any other (out of memory, a
      -- read-only replica) goes back to the caller as it is, before anything was written.
      if not string.find(ok.err, 'equal or smaller', 1, true) then return ok end
      redis.call('RENAME', KEYS[2], KEYS[2] .. ':corrupt')
      quarantined = 1
      redis.call('XADD', KEYS[2], v .. '-0', 'e', ARGV[17])
    end
  else
    redis.call('XADD', KEYS[2], v .. '-0', 'e', ARGV[16 + i])
  end
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'id', ARGV[5], 'v', v, 'e', ARGV[16 + i])
end
if ARGV[9] ~= '' then
  redis.call('HSET', KEYS[1], 'v', cur + n, 'r', ARGV[2], 'run', ARGV[9])
else
  redis.call('HSET', KEYS[1], 'v', cur + n, 'r', ARGV[2])
end
if cur == 0 then redis.call('ZADD', KEYS[4], ARGV[4], ARGV[5]) end
local moved = ARGV[6] ~= ARGV[7]
if moved then
  if ARGV[6] ~= '' then redis.call('SREM', KEYS[5], ARGV[5]) end
  if ARGV[7] ~= '' then redis.call('SADD', KEYS[6], ARGV[5]) end
end
if ARGV[10] ~= ARGV[15] then
  if ARGV[10] == '1' then redis.call('SADD', KEYS[7], ARGV[5]) else redis.call('SREM', KEYS[7], ARGV[5]) end
end
-- Leaving a host's live index enters its ended index, so the sweep finds what ended lately.
local wasLive = ARGV[16] == '1'
if moved and ARGV[6] ~= '' and wasLive then
  if redis.call('SREM', KEYS[8], ARGV[5]) == 1 then redis.call('ZADD', KEYS[11], ARGV[14], ARGV[5]) end
end
if ARGV[7] ~= '' then
  local liveHere = wasLive and not moved
  if ARGV[11] == '1' then
    if not liveHere then
      redis.call('SADD', KEYS[9], ARGV[5])
      -- At version 1 its one event is the start request: it was never on any host.
      if cur > 1 then redis.call('ZREM', KEYS[12], ARGV[5]) end
    end
  elseif liveHere and redis.call('SREM', KEYS[9], ARGV[5]) == 1 then
    redis.call('ZADD', KEYS[12], ARGV[14], ARGV[5])
  end
end
if ARGV[12] ~= ARGV[13] then
  if ARGV[12] ~= '' then redis.call('HINCRBY', KEYS[10], ARGV[12], -1) end
  redis.call('HINCRBY', KEYS[10], ARGV[13], 1)
end
return {1, cur + n, quarantined}
