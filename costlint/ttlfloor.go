package costlint

import (
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

// applyFloor raises a relative TTL argument (SET EX/PX, SETEX, PSETEX,
// EXPIRE, PEXPIRE, GETEX EX/PX) below the floor of the key's pattern.
//
// NOTE: absolute expiries (EXAT, PXAT, EXPIREAT, PEXPIREAT) are left
// unchanged.
func (l *Linter) applyFloor(cmd redis.Cmder) {
	args := cmd.Args()
	if len(args) < 3 {
		return
	}
	name := cmd.Name()
	i, unit, ok := ttlArgIndex(name, args)
	if !ok {
		return
	}
	floor, ok := l.floors[keypattern.Normalize(argString(args[1]))]
	if !ok {
		return
	}
	n, ok := argInt(args[i])
	if !ok || time.Duration(n)*unit >= floor {
		return
	}
	args[i] = int64((floor + unit - 1) / unit)
	l.floorHits.Add(1)
}
