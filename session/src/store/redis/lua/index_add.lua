-- Cluster, on the index's slot. KEYS: the user's index. ARGV: expires_at, member. Answers the
-- size of the index.
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
reindex(KEYS[1])
return redis.call('ZCARD', KEYS[1])
