-- Releases a lock only if the caller's token still holds it (a lock that expired and was
-- taken by another worker is left alone).
--
-- KEYS[1] the lock key
-- ARGV[1] the token the caller set
-- Returns 1 if released, 0 otherwise.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
