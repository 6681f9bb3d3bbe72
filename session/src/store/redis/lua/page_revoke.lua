-- One page of a revocation, one node. KEYS: the user's index. ARGV: prefix, the user's key
-- (hex), one? ('1': end the session with the handle; '0': every session but the one with it),
-- handle ('' for none), then the members of the page.
--
-- Ends the chosen sessions that still belong to the user under that handle and takes their
-- entries (and stale ones) out of the index; answers how many ended.
local ended, gone = 0, {}
for i = 5, #ARGV do
  local member = ARGV[i]
  local session, handle = split(member)
  local chosen
  if ARGV[3] == '1' then chosen = handle == ARGV[4] else chosen = handle ~= ARGV[4] end
  if not session then
    gone[#gone + 1] = member
  elseif chosen then
    local key = ARGV[1] .. session
    local user = redis.call('HMGET', key, 'm:k', 'm:h')
    if user[1] == ARGV[2] and user[2] == handle then
      redis.call('DEL', key)
      ended = ended + 1
    end
    gone[#gone + 1] = member
  end
end
if #gone > 0 then
  remove(KEYS[1], gone)
  reindex(KEYS[1])
end
return ended
