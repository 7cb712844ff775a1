-- Deletes a consumer from the group only when it has no live heartbeat and no pending entry,
-- because XGROUP DELCONSUMER drops a consumer's pending entries, which would lose their chunks.
-- KEYS: stream, the consumer's heartbeat key. ARGV: group, consumer. Returns 1 when deleted.
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #pending > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
