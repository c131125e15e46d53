-- Moves a finished record's stream entries to its archive list (`<version> <event JSON>`
-- per item), guarded by the record's version.
--
-- KEYS[1] record hash   KEYS[2] event stream   KEYS[3] archive list
-- ARGV[1] judged version
-- Returns the number of entries moved, or -1 if the record changed.
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return -1 end
local rows = redis.call('XRANGE', KEYS[2], '-', '+')
for _, row in ipairs(rows) do
  local f = row[2]
  for i = 1, #f, 2 do
    if f[i] == 'e' then redis.call('RPUSH', KEYS[3], string.match(row[1], '^(%d+)-') .. ' ' .. f[i + 1]) end
  end
end
redis.call('DEL', KEYS[2])
return #rows
