package costlint

import (
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/upstash-ops/sdk/internal/keypattern"
)

// TTLFloor is the shortest TTL allowed on the keys of one key pattern.
type TTLFloor struct {
	// Pattern is a key pattern such as "cache:{id}", or an example key
	// such as "cache:42", which is normalised to its pattern.
	Pattern string
	// Min is the floor. TTL arguments below it are raised to it.
	Min time.Duration
}

// applyFloor raises a TTL argument (SET EX/PX/EXAT/PXAT, SETEX, PSETEX,
// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, GETEX) below the floor of the
// key's pattern.
//
// Absolute expiries (EXAT, PXAT, EXPIREAT, PEXPIREAT) closer than the
// floor to the clock's now are moved to now plus the floor. TTLs of zero
// or less and expiries already past are left alone, because they delete
// the key.
func (l *Linter) applyFloor(floors map[string]time.Duration, cmd redis.Cmder) {
	args := cmd.Args()
	if len(args) < 3 {
		return
	}
	name := cmd.Name()
	i, unit, absolute, ok := ttlArgIndex(name, args)
	if !ok {
		return
	}
	floor, ok := floors[keypattern.Normalize(argString(args[1]))]
	if !ok {
		return
	}
	n, ok := argInt(args[i])
	if !ok {
		return
	}
	// A TTL of zero or less deletes the key (EXPIRE) or is rejected (SET
	// EX), so raising it would change what the command does.
	if !absolute {
		if n <= 0 || time.Duration(n)*unit >= floor {
			return
		}
		args[i] = int64((floor + unit - 1) / unit)
		l.floorHits.Add(1)
		return
	}

	now := l.clock.Now()
	at := time.Unix(0, n*int64(unit))
	// An expiry already past deletes the key, which is what the caller wants.
	if !at.After(now) || at.Sub(now) >= floor {
		return
	}
	// Round up so that the new expiry is never short of the floor.
	args[i] = (now.Add(floor).UnixNano() + int64(unit) - 1) / int64(unit)
	l.floorHits.Add(1)
}

// SetTTLFloor sets or replaces the TTL floor of a key pattern while the
// hook runs, which is how an operator applies the ttl-thrash fix. A floor
// with Min <= 0 removes the pattern's floor.
func (l *Linter) SetTTLFloor(floor TTLFloor) {
	pattern := keypattern.Normalize(floor.Pattern)
	l.floorsMu.Lock()
	defer l.floorsMu.Unlock()
	old := *l.floors.Load()
	next := make(map[string]time.Duration, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	if floor.Min > 0 {
		next[pattern] = floor.Min
	} else {
		delete(next, pattern)
	}
	l.floors.Store(&next)
}

// TTLFloors returns the TTL floors in force, sorted by pattern.
func (l *Linter) TTLFloors() []TTLFloor {
	floors := *l.floors.Load()
	out := make([]TTLFloor, 0, len(floors))
	for pattern, d := range floors {
		out = append(out, TTLFloor{Pattern: pattern, Min: d})
	}
	slices.SortFunc(out, func(a, b TTLFloor) int { return strings.Compare(a.Pattern, b.Pattern) })
	return out
}
