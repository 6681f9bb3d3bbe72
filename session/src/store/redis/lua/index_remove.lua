-- Cluster, on the index's slot. KEYS: the user's index. ARGV: members to take out.
remove(KEYS[1], ARGV)
reindex(KEYS[1])
return 1
