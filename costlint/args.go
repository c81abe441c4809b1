package costlint

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// argString returns a command argument as text, without allocating for
// strings and byte slices.
func argString(a any) string {
	switch v := a.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// argInt parses a numeric argument.
func argInt(a any) (int64, bool) {
	switch v := a.(type) {
	case int:
		return int64(v), true
	case int64:
		return v, true
	case int32:
		return int64(v), true
	case uint64:
		return int64(min(v, math.MaxInt64)), true
	case float64:
		return int64(v), true
	case time.Duration:
		return int64(v), true
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	case []byte:
		n, err := strconv.ParseInt(string(v), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// argFloat parses a numeric argument that may have a fraction.
func argFloat(a any) (float64, bool) {
	switch v := a.(type) {
	case float64:
		return v, true
	case float32:
		return float64(v), true
	case string:
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	n, ok := argInt(a)
	return float64(n), ok
}

// argSize returns the bytes the arguments take on the wire, counting 8 for
// a number.
func argSize(args []any) uint64 {
	var n uint64
	for _, a := range args {
		switch v := a.(type) {
		case string:
			n += uint64(len(v))
		case []byte:
			n += uint64(len(v))
		default:
			n += 8
		}
	}
	return n
}

// keyCount returns the number of keys a command addresses.
func keyCount(info commandInfo, args []any) int {
	switch {
	case !info.keyed || len(args) < 2:
		return 0
	case info.multiKey:
		return len(args) - 1
	case info.pairs:
		return (len(args) - 1) / 2
	}
	return 1
}

// ttlArg returns the TTL that a command sets, relative to now. KEEPTTL and
// commands without an expiry return false.
func ttlArg(name string, args []any, now time.Time) (time.Duration, bool) {
	switch name {
	case "setex":
		return seconds(args, 2)
	case "psetex":
		return millis(args, 2)
	case "expire":
		return seconds(args, 2)
	case "pexpire":
		return millis(args, 2)
	case "expireat":
		return until(args, 2, now, time.Second)
	case "pexpireat":
		return until(args, 2, now, time.Millisecond)
	case "set", "getex":
		for i := firstOption(name); i+1 < len(args); i++ {
			switch strings.ToLower(argString(args[i])) {
			case "ex":
				return seconds(args, i+1)
			case "px":
				return millis(args, i+1)
			case "exat":
				return until(args, i+1, now, time.Second)
			case "pxat":
				return until(args, i+1, now, time.Millisecond)
			}
		}
	}
	return 0, false
}

// ttlArgIndex returns the index of the TTL argument, its unit, and
// whether it is an absolute Unix time rather than a duration.
func ttlArgIndex(name string, args []any) (i int, unit time.Duration, absolute, ok bool) {
	switch name {
	case "setex", "expire":
		return 2, time.Second, false, len(args) > 2
	case "psetex", "pexpire":
		return 2, time.Millisecond, false, len(args) > 2
	case "expireat":
		return 2, time.Second, true, len(args) > 2
	case "pexpireat":
		return 2, time.Millisecond, true, len(args) > 2
	case "set", "getex":
		for i := firstOption(name); i+1 < len(args); i++ {
			switch strings.ToLower(argString(args[i])) {
			case "ex":
				return i + 1, time.Second, false, true
			case "px":
				return i + 1, time.Millisecond, false, true
			case "exat":
				return i + 1, time.Second, true, true
			case "pxat":
				return i + 1, time.Millisecond, true, true
			}
		}
	}
	return 0, 0, false, false
}

// firstOption returns the index of the first option of SET (after the
// value) or GETEX (after the key).
func firstOption(name string) int {
	if name == "set" {
		return 3
	}
	return 2
}

func seconds(args []any, i int) (time.Duration, bool) {
	if i >= len(args) {
		return 0, false
	}
	n, ok := argInt(args[i])
	return time.Duration(n) * time.Second, ok
}

func millis(args []any, i int) (time.Duration, bool) {
	if i >= len(args) {
		return 0, false
	}
	n, ok := argInt(args[i])
	return time.Duration(n) * time.Millisecond, ok
}

func until(args []any, i int, now time.Time, unit time.Duration) (time.Duration, bool) {
	if i >= len(args) {
		return 0, false
	}
	n, ok := argInt(args[i])
	if !ok {
		return 0, false
	}
	return time.Unix(0, n*int64(unit)).Sub(now), true
}

// blockTimeout returns the timeout of BLPOP, BRPOP, BLMOVE, BRPOPLPUSH and
// BZPOPMIN/MAX, which is their last argument in seconds (0 blocks forever).
func blockTimeout(name string, args []any) time.Duration {
	if len(args) < 3 {
		return 0
	}
	f, ok := argFloat(args[len(args)-1])
	if !ok {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// xreadBlock returns the BLOCK milliseconds of XREAD.
func xreadBlock(args []any) time.Duration {
	for i := 1; i+1 < len(args); i++ {
		if strings.EqualFold(argString(args[i]), "block") {
			n, _ := argInt(args[i+1])
			return time.Duration(n) * time.Millisecond
		}
	}
	return 0
}

// scanCount returns the COUNT of SCAN, or Redis's default of 10.
func scanCount(args []any) uint64 {
	for i := 2; i+1 < len(args); i++ {
		if strings.EqualFold(argString(args[i]), "count") {
			if n, ok := argInt(args[i+1]); ok && n > 0 {
				return uint64(n)
			}
		}
	}
	return 10
}

// linearCount estimates distinct items from a bitmap of m bits with zeros
// bits still unset.
func linearCount(m, zeros int) float64 {
	return -float64(m) * math.Log(float64(zeros)/float64(m))
}
