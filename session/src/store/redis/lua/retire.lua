-- The last step of change_id on Cluster, on the old session's slot. KEYS: the session. ARGV:
-- the session's key without the prefix. Deletes it, answering {'0'} when it was gone already,
-- {'1'} when it was there untied, and {'1', user key, member} when its index entry (in another
-- slot) is to be removed.
local was = redis.call('HMGET', KEYS[1], 'm:k', 'm:h')
if redis.call('DEL', KEYS[1]) == 0 then return {'0'} end
if was[1] and was[2] then return {'1', was[1], ARGV[1] .. ':' .. was[2]} end
return {'1'}
