-- Releases a port lease only if the process that asks still holds it (a restarted
-- process may have leased the same port again meanwhile).
--
-- KEYS[1] the host's port lease hash (port -> process id)
-- ARGV[1] port   ARGV[2] process id
-- Returns 1 if released, 0 otherwise.
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
