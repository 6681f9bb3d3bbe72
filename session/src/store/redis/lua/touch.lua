-- touch. KEYS: the session, and on one node the user's index. ARGV: expires_at, last_seen,
-- member.
if redis.call('EXPIREAT', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'm:e', ARGV[1], 'm:s', ARGV[2])
if KEYS[2] then
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
  reindex(KEYS[2])
end
return 1
