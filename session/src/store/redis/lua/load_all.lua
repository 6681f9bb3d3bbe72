-- load_all. KEYS: the session. Answers its hash's fields and values (field, value, field, ...)
-- as one MessagePack array, or false when there is no such hash: the client reads one bulk
-- string and takes the values as slices of it, where a 2n-element reply would cost it a parse
-- and an allocation per element.
local all = redis.call('HGETALL', KEYS[1])
if #all == 0 then return false end
return cmsgpack.pack(all)
