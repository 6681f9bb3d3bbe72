-- One page of a listing, one node. KEYS: the user's index. ARGV: prefix, the user's key (hex),
-- then the members of the page (at most a page: the script's time is bounded).
--
-- Answers the HGETALL of every member's session that still belongs to the user under the
-- member's handle; the other members (their session gone, expired, or tied to another user or
-- handle since) are taken out of the index.
local found, stale = {}, {}
for i = 3, #ARGV do
  local member = ARGV[i]
  local session, handle = split(member)
  local user = {}
  if session then
    user = redis.call('HMGET', ARGV[1] .. session, 'm:k', 'm:h')
  end
  if user[1] == ARGV[2] and user[2] == handle then
    found[#found + 1] = redis.call('HGETALL', ARGV[1] .. session)
  else
    stale[#stale + 1] = member
  end
end
if #stale > 0 then
  remove(KEYS[1], stale)
  reindex(KEYS[1])
end
return found
