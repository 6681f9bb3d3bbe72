-- apply(key, replace_all, expires_at, at): reads, from ARGV[at] on, the number of removed keys,
-- their fields, then field / value pairs to the end, and applies them with one HDEL and one
-- HSET (in chunks that unpack can take). With replace_all the hash is emptied first and given
-- its expiry again afterwards.
local function apply(key, replace_all, expires_at, at)
  local function each(command, from, to)
    while from <= to do
      local last = math.min(from + 3999, to)
      redis.call(command, key, unpack(ARGV, from, last))
      from = last + 1
    end
  end
  local n = tonumber(ARGV[at])
  if replace_all then
    redis.call('DEL', key)
  else
    each('HDEL', at + 1, at + n)
  end
  each('HSET', at + 1 + n, #ARGV)
  if replace_all then redis.call('EXPIREAT', key, expires_at) end
end
