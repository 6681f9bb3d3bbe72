-- Helpers of the scripts that keep a user's index: a sorted set of `<session key>:<handle>`
-- members (the session key without the store's prefix), scored by the session's expiry (Unix
-- seconds), and of the revocation markers (see mark.lua).

-- Prunes at most 128 members whose expiry is past (by the server's clock, the one that expires
-- the session hashes), a bounded step however many expired at once, and gives the set its
-- latest member's expiry, so that an index nobody reads again goes with its last session.
local function reindex(idx)
  local past = redis.call('ZRANGEBYSCORE', idx, '-inf', redis.call('TIME')[1], 'LIMIT', 0, 128)
  if #past > 0 then redis.call('ZREM', idx, unpack(past)) end
  local top = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
  if top[2] then redis.call('EXPIREAT', idx, top[2]) end
end

-- The session key and the handle of an index member.
local function split(member)
  local sep = string.find(member, ':', 1, true)
  if not sep then return nil, nil end
  return string.sub(member, 1, sep - 1), string.sub(member, sep + 1)
end

-- Takes members out of an index, in chunks that unpack can take.
local function remove(idx, members)
  for i = 1, #members, 4000 do
    redis.call('ZREM', idx, unpack(members, i, math.min(i + 3999, #members)))
  end
end

-- The server's clock in milliseconds.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Whether a revocation in progress (a live member of the marker set `mk`) ends the session
-- with `handle`. A marker is `o:<handle>:<token>` (that session) or `a:<handle>:<token>` (all
-- but that one; no handle: all).
local function marked(mk, handle)
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', mk, now_ms(), '+inf')) do
    local rest = string.sub(m, 3)
    local sep = string.find(rest, ':', 1, true)
    local h = sep and string.sub(rest, 1, sep - 1) or rest
    local mode = string.sub(m, 1, 1)
    if (mode == 'o' and h == handle) or (mode == 'a' and h ~= handle) then return true end
  end
  return false
end
