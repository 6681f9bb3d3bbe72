-- Cluster, on the session's slot. KEYS: the session. ARGV: the user's key (hex), handle.
-- Deletes the session only if it still belongs to that user under that handle.
local user = redis.call('HMGET', KEYS[1], 'm:k', 'm:h')
if user[1] == ARGV[1] and user[2] == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
