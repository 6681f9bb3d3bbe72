-- change_id, one node. KEYS: the session, its new key, and the user's index when the session
-- is tied to a user. ARGV: prefix, the session's key without it, replace_all?, expires_at, the
-- new index member ('' for none), then what apply reads.
--
-- Nothing happens (0) when the session is gone or expired (a logout, a revocation or the expiry
-- won), or when a revocation that ends it is under way (it wins: the session ends now).
-- Otherwise the hash is renamed (its values move as they are now, concurrent changes to other
-- keys included), its old index entry goes, the request's changes and metadata are applied
-- under the new key, and the new entry is written.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local was = redis.call('HMGET', KEYS[1], 'm:k', 'm:h')
if was[1] and was[2] then
  local idx = ARGV[1] .. 'u:' .. was[1]
  redis.call('ZREM', idx, ARGV[2] .. ':' .. was[2])
  if marked(ARGV[1] .. 'r:' .. was[1], was[2]) then
    redis.call('DEL', KEYS[1])
    return 0
  end
  reindex(idx)
end
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('EXPIREAT', KEYS[2], ARGV[4])
if ARGV[5] == '' then redis.call('HDEL', KEYS[2], 'm:u', 'm:k', 'm:h', 'm:t') end
apply(KEYS[2], ARGV[3] == '1', ARGV[4], 6)
if KEYS[3] then
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
  reindex(KEYS[3])
end
return 1
