-- The markers of a user's revocations in progress. KEYS: the user's marker set
-- (`<prefix>r:<user key>`). ARGV: the marker (see `marked` in index.lua), raise? ('1': raise
-- it, or push its deadline, to now + ARGV[3] milliseconds; '0': lower it).
--
-- A revocation raises its marker before it reads the index and lowers it when done. An id
-- change of a session the marker chooses then gives up (the session ends): the revocation
-- reads the index in pages, and a session that moved to a new id behind its reading would
-- escape it. Markers past their deadline (a revocation that died) are dropped.
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[2] == '1' then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] then redis.call('PEXPIREAT', KEYS[1], top[2]) end
return 1
