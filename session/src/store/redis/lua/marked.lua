-- Cluster, on the marker set's slot. KEYS: the user's marker set. ARGV: a session's handle.
-- 1 when a revocation in progress ends that session.
if marked(KEYS[1], ARGV[1]) then return 1 end
return 0
