package costlint

import (
	"crypto/sha1"
	"encoding/hex"
	"strings"
)

// scripts maps Lua scripts seen in EVAL to their SHA1, so that EVALSHA
// calls of the same script are billed with its inner calls. The map holds
// at most maxScripts entries; later scripts are billed as one command.
type scripts struct {
	declared map[string]int // by SHA1, from WithScriptCalls
	learned  map[string]int // by SHA1, estimated from source
	bySource map[string]string
	max      int
	unknown  uint64 // EVALSHA calls of scripts never seen in EVAL
}

func newScripts(cfg *config) *scripts {
	return &scripts{
		declared: cfg.scriptCalls,
		learned:  make(map[string]int),
		bySource: make(map[string]string),
		max:      cfg.maxScripts,
	}
}

// observe returns the billed calls a script run makes beyond the
// EVAL/EVALSHA itself.
func (s *scripts) observe(name string, args []any) int {
	if len(args) < 2 {
		return 0
	}
	body := argString(args[1])
	var sha string
	if strings.HasPrefix(name, "evalsha") {
		sha = strings.ToLower(body)
	} else {
		var ok bool
		if sha, ok = s.bySource[body]; !ok {
			sha = scriptSHA(body)
			if len(s.bySource) < s.max {
				s.bySource[body] = sha
				s.learned[sha] = estimateCalls(body)
			}
		}
	}
	if n, ok := s.declared[sha]; ok {
		return n
	}
	if n, ok := s.learned[sha]; ok {
		return n
	}
	s.unknown++
	return 0
}

// estimateCalls counts the redis.call and redis.pcall sites in a script's
// source. A call inside a loop counts once, so declare the real number
// with WithScriptCalls for such scripts.
func estimateCalls(src string) int {
	return strings.Count(src, "redis.call(") + strings.Count(src, "redis.pcall(")
}

// scriptSHA returns the SHA1 of a script source, or s itself in lower case
// when it already is a 40-digit hex SHA1.
func scriptSHA(s string) string {
	if len(s) == 40 {
		if _, err := hex.DecodeString(s); err == nil {
			return strings.ToLower(s)
		}
	}
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
