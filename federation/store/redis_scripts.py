"""Lua run inside Redis, so each check-and-write is one atomic step on the server.

Lease times come from the Redis server's clock (``TIME``), so every replica judges expiry by
the same clock no matter how far their own clocks drift.
"""

from __future__ import annotations

_NOW_MS = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# KEYS: 1 record hash, 2 revision counter, 3 change stream, 4 key index, 5 fence lease hash
# ARGV: 1 'put'|'delete', 2 key, 3 value, 4 expected revision or '', 5 history kept,
#       6 fence holder or '', 7 fence token
WRITE = (
    _NOW_MS
    + """
if ARGV[6] ~= '' then
  local lease = redis.call('HMGET', KEYS[5], 'holder', 'token', 'expires_ms')
  if lease[1] ~= ARGV[6] or tonumber(lease[2]) ~= tonumber(ARGV[7])
      or tonumber(lease[3]) <= now_ms() then
    return {'fenced', lease[1] or '', tonumber(lease[2] or '0'), tonumber(lease[3] or '0')}
  end
end
local current = tonumber(redis.call('HGET', KEYS[1], 'r') or '0')
if ARGV[4] ~= '' and tonumber(ARGV[4]) ~= current then
  return {'conflict', current}
end
if ARGV[1] == 'delete' and current == 0 then
  return {'missing'}
end
local revision = redis.call('INCR', KEYS[2])
local id = revision .. '-0'
if ARGV[1] == 'put' then
  redis.call('HSET', KEYS[1], 'v', ARGV[3], 'r', revision)
  redis.call('ZADD', KEYS[4], 0, ARGV[2])
  redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[5], id, 'op', 'put', 'k', ARGV[2], 'v', ARGV[3])
else
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[4], ARGV[2])
  redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[5], id, 'op', 'delete', 'k', ARGV[2])
end
return {'ok', revision}
"""
)

# KEYS: 1 key index. ARGV: 1 record hash key prefix, 2 lex min, 3 lex max
LIST = """
local out = {}
for _, key in ipairs(redis.call('ZRANGEBYLEX', KEYS[1], ARGV[2], ARGV[3])) do
  local record = redis.call('HMGET', ARGV[1] .. key, 'v', 'r')
  out[#out + 1] = key
  out[#out + 1] = record[1]
  out[#out + 1] = record[2]
end
return out
"""

# KEYS: 1 lease hash. ARGV: 1 holder, 2 ttl in ms. Answers the fencing token, or 0 if refused.
# A released lease keeps its token with an empty holder, so tokens never go back.
ACQUIRE = (
    _NOW_MS
    + """
local now = now_ms()
local lease = redis.call('HMGET', KEYS[1], 'holder', 'token', 'expires_ms')
local holder = lease[1] or ''
local token = tonumber(lease[2] or '0')
if holder ~= '' and holder ~= ARGV[1] and tonumber(lease[3]) > now then
  return 0
end
if holder ~= ARGV[1] then
  token = token + 1
end
local expires = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'token', token, 'expires_ms', expires)
return token
"""
)

# KEYS: 1 lease hash. ARGV: 1 holder, 2 token
RELEASE = """
local lease = redis.call('HMGET', KEYS[1], 'holder', 'token')
if lease[1] == ARGV[1] and tonumber(lease[2]) == tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'holder', '', 'expires_ms', 0)
end
return 0
"""

# KEYS: 1 log list. ARGV: 1 the length the log must have, 2… the entries.
# Answers {new length, length before}: new length is -1 when the log had another length
# (nothing written).
APPEND_AT = """
local length = redis.call('LLEN', KEYS[1])
if length ~= tonumber(ARGV[1]) then
  return {-1, length}
end
return {redis.call('RPUSH', KEYS[1], unpack(ARGV, 2)), length}
"""
