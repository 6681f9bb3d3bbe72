-- delete. KEYS: the session. ARGV: prefix, the session's key without it, here? ('1' on one
-- node).
--
-- Deletes the session. On one node its index entry goes in the same call; on Cluster (another
-- slot) the reply names the user key and the member for the caller to remove: {} when the
-- session was not tied to a user.
local user = redis.call('HMGET', KEYS[1], 'm:k', 'm:h')
redis.call('DEL', KEYS[1])
if not (user[1] and user[2]) then return {} end
local member = ARGV[2] .. ':' .. user[2]
if ARGV[3] == '1' then
  local idx = ARGV[1] .. 'u:' .. user[1]
  redis.call('ZREM', idx, member)
  reindex(idx)
  return {}
end
return {user[1], member}
