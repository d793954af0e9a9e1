//! The Lua scripts that make each step one atomic command: Redis runs a
//! script alone, so a check and the write it guards cannot be split by
//! another client (simpler than `WATCH`, which is per connection).
//!
//! Every key a script touches is passed in `KEYS`, and a server's keys
//! share one hash tag, so the scripts also run on a Redis Cluster.

use std::sync::LazyLock;

use redis::Script;

/// The save, fenced by the generation: `KEYS[1]` the record;
/// `ARGV` = expected generation (empty: whatever it is), server URL, key
/// id, nonce, sealed document (empty: an empty record, as a logout leaves),
/// account (empty: the default account, whose record has no `acct`).
/// Returns `{1, new generation}`, or `{0, current generation}` when the
/// record moved on since it was read: newer tokens are never overwritten.
/// A record is never deleted, so its generation never starts again at 0.
pub(crate) static SAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = tonumber(redis.call('HGET', KEYS[1], 'gen') or '0')
if ARGV[1] ~= '' and current ~= tonumber(ARGV[1]) then
  return {0, current}
end
local new = current + 1
if ARGV[6] == '' then
  redis.call('HDEL', KEYS[1], 'acct')
else
  redis.call('HSET', KEYS[1], 'acct', ARGV[6])
end
if ARGV[5] == '' then
  redis.call('HDEL', KEYS[1], 'kid', 'nonce', 'doc', 'spending')
  redis.call('HSET', KEYS[1], 'gen', new, 'url', ARGV[2])
else
  redis.call('HSET', KEYS[1], 'gen', new, 'url', ARGV[2], 'kid', ARGV[3], 'nonce', ARGV[4], 'doc', ARGV[5])
  redis.call('HDEL', KEYS[1], 'spending')
end
return {1, new}
",
    )
});

/// Takes the lock: `KEYS[1]` the lock, `ARGV` = holder, lease in ms. 1
/// when taken, also when it is already this holder's (a retry after an
/// answer lost to a dropped connection); 0 when another holds it.
pub(crate) static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return 1
end
return 0
",
    )
});

/// Extends the lease: `KEYS[1]` the lock, `ARGV` = holder, lease in ms.
/// 1 when extended, 0 when the lock is no longer this holder's.
pub(crate) static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
",
    )
});

/// Gives the lock back, only if it is still this holder's (a plain `DEL`
/// could remove a lock another took after ours ran out), and with it this
/// holder's spend mark: a holder that releases is alive, so its token
/// request is over. `KEYS` = lock, record; `ARGV[1]` = holder.
pub(crate) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local mark = redis.call('HGET', KEYS[2], 'spending')
if mark and string.match(mark, '^%d+:(%x+):') == ARGV[1] then
  redis.call('HDEL', KEYS[2], 'spending')
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});

/// Marks a token request about to go out: `KEYS` = record, lock; `ARGV` =
/// holder, expected generation, how long (ms) another holder's mark stands,
/// the lease (ms), renewed in full for the request about to go out.
/// Returns `{1, gen}` when marked; `{-1, 0}` when the lock is not this
/// holder's any more; `{-2, current}` when the record moved on; `{-3, ms}`
/// when another holder's request for this very generation may still be
/// under way (it paused, or died, after sending): wait `ms` or for the
/// record to move, rather than spend the same refresh token twice.
pub(crate) static MARK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return {-1, 0}
end
local current = tonumber(redis.call('HGET', KEYS[1], 'gen') or '0')
if current ~= tonumber(ARGV[2]) then
  return {-2, current}
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local mark = redis.call('HGET', KEYS[1], 'spending')
if mark then
  local gen, holder, at = string.match(mark, '^(%d+):(%x+):(%d+)$')
  if gen and tonumber(gen) == current and holder ~= ARGV[1] then
    local until_ms = tonumber(at) + tonumber(ARGV[3])
    if now < until_ms then
      return {-3, until_ms - now}
    end
  end
end
redis.call('HSET', KEYS[1], 'spending', current .. ':' .. ARGV[1] .. ':' .. now)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return {1, current}
",
    )
});

/// Keeps a pending sign-in: `KEYS[1]` its key; `ARGV` = `1` when this is a
/// repeat of a call whose answer was lost, the Unix ms at which Redis
/// forgets it, then the hash's fields and values. 1 when kept; 0 when the
/// key exists already (unless it holds exactly what a repeat would write
/// and is not taken yet: the first call's own work).
pub(crate) static PENDING_PUT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  if ARGV[1] ~= '1' or redis.call('HEXISTS', KEYS[1], 'used') == 1 then
    return 0
  end
  for i = 3, #ARGV, 2 do
    if redis.call('HGET', KEYS[1], ARGV[i]) ~= ARGV[i + 1] then
      return 0
    end
  end
  return 1
end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
",
    )
});

/// Takes a pending sign-in: `KEYS[1]` its key; `ARGV` = binding, now (Unix
/// ms), this take's own mark. Returns `{'unknown'}`, `{'used'}`,
/// `{'mine'}` (used by this very take, repeated after its answer was lost),
/// `{'expired'}` or `{'other'}` (nothing changed), `{'malformed'}`; or
/// `{'taken', exp, form, kid, nonce, ct or doc}` (form: `sealed`, `plain`
/// or `none`), after marking the record used and deleting its document.
/// The key itself stays until it expires, so that a replay is told apart
/// from an unknown id.
pub(crate) static PENDING_TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'unknown'}
end
local held = redis.call('HMGET', KEYS[1], 'binding', 'exp', 'used', 'kid', 'nonce', 'ct', 'doc')
if held[3] then
  if held[3] == ARGV[3] then
    return {'mine'}
  end
  return {'used'}
end
local exp = tonumber(held[2])
if not held[1] or not exp then
  return {'malformed'}
end
if exp <= tonumber(ARGV[2]) then
  return {'expired'}
end
if held[1] ~= ARGV[1] then
  return {'other'}
end
local form = 'none'
if held[4] then
  form = 'sealed'
elseif held[7] then
  form = 'plain'
end
redis.call('HSET', KEYS[1], 'used', ARGV[3])
redis.call('HDEL', KEYS[1], 'kid', 'nonce', 'ct', 'doc')
return {'taken', held[2], form, held[4] or '', held[5] or '', held[6] or held[7] or ''}
",
    )
});
