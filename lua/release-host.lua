-- Gives a host id up at a clean shutdown, so the next worker claims it at once; a lease
-- another worker holds by now is left alone.
--
-- KEYS[1] the host's lease key
-- ARGV[1] the holder's value, as claimed
-- Returns 1 if released, 0 otherwise.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
