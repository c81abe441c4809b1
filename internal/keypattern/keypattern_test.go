package keypattern

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, key, want string
	}{
		{"numeric id", "user:8412:profile", "user:{id}:profile"},
		{"two ids", "org/77/user/8412", "org/{id}/user/{id}"},
		{"uuid", "session:3f2504e0-4f89-11d3-9a0c-0305e82c3301", "session:{uuid}"},
		{"sha1", "blob:da39a3ee5e6b4b0d3255bfef95601890afd80709", "blob:{hash}"},
		{"md5", "etag:d41d8cd98f00b204e9800998ecf8427e", "etag:{hash}"},
		{"sha256", "cache:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855:v", "cache:{hash}:v"},
		{"short hex id", "obj:5f3a9c1e", "obj:{hex}"},
		{"hex-like word kept", "feed:deadbeef", "feed:deadbeef"},
		{"ulid", "job:01ARZ3NDEKTSV4RRFFQ69G5FAV", "job:{token}"},
		{"dash suffix", "order-9921:items", "order-{id}:items"},
		{"date parts", "rl_2026_12_04:ip", "rl_{id}_{id}_{id}:ip"},
		{"word with number", "{user1000}.following", "{user{id}}.following"},
		{"short version kept", "api:v2:config", "api:v2:config"},
		{"plain", "config", "config"},
		{"empty", "", ""},
		{"separators only", "::", "::"},
		{"binary", "k:\x00\xff:x", "k:{bin}:x"},
		{"unicode", "ключ:12", "{bin}:{id}"},
		{"email", "login:alice@example.com", "login:{email}"},
		{"timestamp", "ratelimit:1733300000", "ratelimit:{id}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Normalize(tt.key); got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

func TestNormalizeTruncatesLongKeys(t *testing.T) {
	key := strings.Repeat("segment:", 40) + "1"
	got := Normalize(key)
	if len(got) > MaxLen+len(truncated) {
		t.Errorf("len(Normalize) = %d, want <= %d", len(got), MaxLen+len(truncated))
	}
	if !strings.HasSuffix(got, truncated) {
		t.Errorf("Normalize(long) = %q, want suffix %q", got, truncated)
	}
}

func TestAppendNoAllocs(t *testing.T) {
	var buf [MaxLen + len(truncated)]byte
	allocs := testing.AllocsPerRun(100, func() {
		_ = Append(buf[:0], "user:8412:profile:3f2504e0-4f89-11d3-9a0c-0305e82c3301")
	})
	if allocs != 0 {
		t.Errorf("Append allocs = %v, want 0", allocs)
	}
}

func BenchmarkAppend(b *testing.B) {
	var buf [MaxLen + len(truncated)]byte
	b.ReportAllocs()
	for b.Loop() {
		_ = Append(buf[:0], "user:8412:profile")
	}
}

func FuzzNormalize(f *testing.F) {
	for _, k := range []string{"user:8412:profile", "session:3f2504e0-4f89-11d3-9a0c-0305e82c3301", "{user1000}.following", "rl_2026_12_04"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		got := Normalize(key)
		if len(got) > MaxLen+len(truncated) {
			t.Fatalf("Normalize(%q) has %d bytes, over the bound", key, len(got))
		}
		if !utf8.ValidString(got) {
			t.Fatalf("Normalize(%q) = %q is not valid UTF-8", key, got)
		}
		if len(got) <= MaxLen && !strings.HasSuffix(got, truncated) {
			if again := Normalize(got); again != got {
				t.Fatalf("Normalize not idempotent: %q -> %q -> %q", key, got, again)
			}
		}
		// Replacing the digits of a numeric segment never changes the pattern.
		if strings.HasPrefix(key, "9:") || strings.HasPrefix(key, "1:") {
			other := "5" + key[1:]
			if Normalize(other) != got {
				t.Fatalf("Normalize(%q) = %q but Normalize(%q) = %q", key, got, other, Normalize(other))
			}
		}
	})
}
