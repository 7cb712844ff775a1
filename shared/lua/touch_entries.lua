-- Sets the idle time of entries this consumer still owns. Idle 0 keeps a chunk that takes long
-- from being claimed by other workers. A large idle hands an abandoned chunk to them at once.
-- XCLAIM with JUSTID leaves the delivery count unchanged.
-- KEYS: stream. ARGV: group, consumer, idle ms, then entry ids.
-- Returns the ids now pending under another consumer (acknowledged ones are left out).
local claimed_by_others = {}
for i = 4, #ARGV do
    local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
    if #pending == 1 then
        if pending[1][2] == ARGV[2] then
            redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'IDLE', ARGV[3], 'JUSTID')
        else
            table.insert(claimed_by_others, ARGV[i])
        end
    end
end
return claimed_by_others
