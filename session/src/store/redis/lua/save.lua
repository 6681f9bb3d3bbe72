-- save. KEYS: the session, and on one node the user's index when the session is tied to a
-- user. ARGV: created?, replace_all?, expires_at, index member, then what apply reads.
--
-- An update sets the expiry first: EXPIREAT on a key that is gone does nothing and answers 0,
-- which is the check that the session still exists (no resurrection) in the same call. A new
-- session (a new id: 192 random bits, never in use) is written whole, then given its expiry.
-- A tied session's index entry is then written with its expiry as the score, in the same call.
-- Answers 0 when the session was gone, else the size of the index it wrote (1 when none).
local key = KEYS[1]
if ARGV[1] == '0' then
  if redis.call('EXPIREAT', key, ARGV[3]) == 0 then return 0 end
  apply(key, ARGV[2] == '1', ARGV[3], 5)
else
  -- Its values come whole: no removed key.
  apply(key, false, ARGV[3], 5)
  redis.call('EXPIREAT', key, ARGV[3])
end
if KEYS[2] then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
  reindex(KEYS[2])
  return redis.call('ZCARD', KEYS[2])
end
return 1
