package costlint

import (
	"testing"
	"time"
)

func TestTTLArg(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name string
		cmd  string
		args []any
		want time.Duration
		ok   bool
	}{
		{"set ex", "set", []any{"set", "k", "v", "EX", 10}, 10 * time.Second, true},
		{"set px string", "set", []any{"set", "k", "v", "px", "1500"}, 1500 * time.Millisecond, true},
		{"set exat", "set", []any{"set", "k", "v", "exat", int64(1_700_000_060)}, time.Minute, true},
		{"set pxat", "set", []any{"set", "k", "v", "PXAT", int64(1_700_000_000_500)}, 500 * time.Millisecond, true},
		{"set keepttl", "set", []any{"set", "k", "v", "keepttl"}, 0, false},
		{"set nx ex", "set", []any{"set", "k", "v", "nx", "ex", 5}, 5 * time.Second, true},
		{"plain set", "set", []any{"set", "k", "v"}, 0, false},
		{"setex", "setex", []any{"setex", "k", 30, "v"}, 30 * time.Second, true},
		{"psetex", "psetex", []any{"psetex", "k", 250, "v"}, 250 * time.Millisecond, true},
		{"expire", "expire", []any{"expire", "k", int64(60)}, time.Minute, true},
		{"pexpire", "pexpire", []any{"pexpire", "k", int64(60)}, 60 * time.Millisecond, true},
		{"expireat", "expireat", []any{"expireat", "k", int64(1_700_000_030)}, 30 * time.Second, true},
		{"getex ex", "getex", []any{"getex", "k", "ex", 7}, 7 * time.Second, true},
		{"getex persist", "getex", []any{"getex", "k", "persist"}, 0, false},
		{"missing value", "expire", []any{"expire", "k"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ttlArg(tt.cmd, tt.args, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("ttlArg = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestBlockAndScanArgs(t *testing.T) {
	if got := blockTimeout("brpop", []any{"brpop", "q", "0.25"}); got != 250*time.Millisecond {
		t.Errorf("brpop timeout = %v, want 250ms", got)
	}
	if got := xreadBlock([]any{"xread", "BLOCK", 2000, "STREAMS", "s", "$"}); got != 2*time.Second {
		t.Errorf("xread block = %v, want 2s", got)
	}
	if got := scanCount([]any{"scan", 0, "match", "a:*", "count", 500}); got != 500 {
		t.Errorf("scan count = %d, want 500", got)
	}
	if got := scanCount([]any{"scan", 0}); got != 10 {
		t.Errorf("scan default count = %d, want 10", got)
	}
}

func TestEstimateScriptCalls(t *testing.T) {
	src := `local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.pcall('EXPIRE', KEYS[1], 60) end
return n`
	if got := estimateCalls(src); got != 2 {
		t.Errorf("estimateCalls = %d, want 2", got)
	}
	sha := scriptSHA(src)
	if len(sha) != 40 || scriptSHA(sha) != sha {
		t.Errorf("scriptSHA(%q) = %q, and a SHA must map to itself", src, sha)
	}
}
