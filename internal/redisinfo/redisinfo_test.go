package redisinfo

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func parseFile(t *testing.T, name string) *Info {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := Parse(string(b))
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return info
}

func TestParseRedis7(t *testing.T) {
	info := parseFile(t, "redis7.txt")

	wantSections := []string{"server", "clients", "memory", "stats", "commandstats", "errorstats", "keyspace"}
	if diff := cmp.Diff(wantSections, info.Sections()); diff != "" {
		t.Errorf("Sections() mismatch (-want +got):\n%s", diff)
	}

	st := info.Stats()
	if st.TotalCommandsProcessed != 4321 || st.KeyspaceHits != 900 || st.KeyspaceMisses != 100 || st.EvictedKeys != 2 {
		t.Errorf("Stats() = %+v", st)
	}
	if got, _ := info.Field("stats", "some_future_counter"); got != "7" {
		t.Errorf("unknown field some_future_counter = %q, want 7", got)
	}
	if r, ok := st.HitRatio(); !ok || r != 0.9 {
		t.Errorf("HitRatio() = %v, %v; want 0.9, true", r, ok)
	}

	wantCmds := []CommandStat{
		{Name: "client|setinfo", Calls: 4, Usec: 3, UsecPerCall: 0.75},
		{Name: "get", Calls: 3000, Usec: 1500, UsecPerCall: 0.5},
		{Name: "mget", Calls: 10, Usec: 40, UsecPerCall: 4},
		{Name: "set", Calls: 1300, Usec: 2000, UsecPerCall: 1.54, RejectedCalls: 1, FailedCalls: 2},
	}
	if diff := cmp.Diff(wantCmds, info.CommandStats()); diff != "" {
		t.Errorf("CommandStats() mismatch (-want +got):\n%s", diff)
	}

	wantKeyspace := []KeyspaceDB{{DB: 0, Keys: 120, Expires: 30, AvgTTL: 54000}, {DB: 3, Keys: 7}}
	if diff := cmp.Diff(wantKeyspace, info.Keyspace()); diff != "" {
		t.Errorf("Keyspace() mismatch (-want +got):\n%s", diff)
	}

	wantMem := Memory{UsedMemory: 1048576, UsedMemoryPeak: 2097152, MaxMemoryPolicy: "noeviction"}
	if got := info.Memory(); got != wantMem {
		t.Errorf("Memory() = %+v, want %+v", got, wantMem)
	}
}

func TestParseUpstashBareCommandstats(t *testing.T) {
	info := parseFile(t, "upstash.txt")
	sec, ok := info.Section("Commandstats")
	if !ok || len(sec) != 0 {
		t.Fatalf("Section(Commandstats) = %v, %v; want empty, true", sec, ok)
	}
	if got := info.CommandStats(); got != nil {
		t.Errorf("CommandStats() = %v, want nil", got)
	}
	if got := info.Stats().TotalCommandsProcessed; got != 55 {
		t.Errorf("TotalCommandsProcessed = %d, want 55 (CRLF line endings)", got)
	}
	if _, ok := info.Stats().HitRatio(); ok {
		t.Error("HitRatio() ok with zero lookups")
	}
}

func TestParseDragonfly(t *testing.T) {
	info := parseFile(t, "dragonfly.txt")
	cmds := info.CommandStats()
	if len(cmds) != 2 || cmds[0].Name != "get" || cmds[0].Calls != 500 || cmds[1].Name != "set" {
		t.Errorf("CommandStats() = %+v", cmds)
	}
	if ks := info.Keyspace(); len(ks) != 1 || ks[0].Keys != 40 || ks[0].AvgTTL != -1 {
		t.Errorf("Keyspace() = %+v", ks)
	}
}

func TestParseValkeyEmptyKeyspace(t *testing.T) {
	info := parseFile(t, "valkey8.txt")
	if got := info.Keyspace(); got != nil {
		t.Errorf("Keyspace() = %v, want nil", got)
	}
	if v, _ := info.Field("server", "server_name"); v != "valkey" {
		t.Errorf("server_name = %q", v)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, text := range []string{"", "\r\n", "   \n\n", "no colon here"} {
		if _, err := Parse(text); !errors.Is(err, ErrEmpty) {
			t.Errorf("Parse(%q) error = %v, want ErrEmpty", text, err)
		}
	}
}

func TestStatsSubDetectsReset(t *testing.T) {
	prev := Stats{TotalCommandsProcessed: 1000, KeyspaceHits: 50, EvictedKeys: 4}
	cur := Stats{TotalCommandsProcessed: 1500, KeyspaceHits: 80, EvictedKeys: 4}
	d, reset := cur.Sub(prev)
	if reset || d.TotalCommandsProcessed != 500 || d.KeyspaceHits != 30 || d.EvictedKeys != 0 {
		t.Errorf("Sub() = %+v, reset %v; want 500/30/0, false", d, reset)
	}

	restarted := Stats{TotalCommandsProcessed: 20, KeyspaceHits: 90, EvictedKeys: 0}
	d, reset = restarted.Sub(cur)
	if !reset {
		t.Fatal("Sub() after restart: reset = false")
	}
	if d.TotalCommandsProcessed != 20 || d.KeyspaceHits != 90 {
		t.Errorf("Sub() after restart = %+v, want counts since restart 20/90", d)
	}
}

func TestSubCommandStats(t *testing.T) {
	prev := []CommandStat{{Name: "get", Calls: 100}, {Name: "set", Calls: 50}}
	cur := []CommandStat{{Name: "get", Calls: 160}, {Name: "set", Calls: 10}, {Name: "mget", Calls: 3}}
	want := map[string]int64{"get": 60, "set": 10, "mget": 3}
	if diff := cmp.Diff(want, SubCommandStats(prev, cur)); diff != "" {
		t.Errorf("SubCommandStats mismatch (-want +got):\n%s", diff)
	}
}

func TestFetchWrapsError(t *testing.T) {
	boom := errors.New("connection refused")
	_, err := Fetch(context.Background(), InfoFunc(func(context.Context, ...string) (string, error) {
		return "", boom
	}), "stats")
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "INFO stats") {
		t.Errorf("Fetch error = %v, want wrapped %v naming the section", err, boom)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("# Stats\nkeyspace_hits:1\n")
	f.Fuzz(func(t *testing.T, text string) {
		info, err := Parse(text)
		if err != nil {
			if !errors.Is(err, ErrEmpty) {
				t.Fatalf("Parse error %v is not ErrEmpty", err)
			}
			return
		}
		// The typed views must never panic and must stay consistent.
		st := info.Stats()
		if r, ok := st.HitRatio(); ok && (r < 0 || r > 1) && st.KeyspaceHits >= 0 && st.KeyspaceMisses >= 0 {
			t.Fatalf("HitRatio %v out of range for %+v", r, st)
		}
		for _, c := range info.CommandStats() {
			if c.Name == "" || c.Name != strings.ToLower(c.Name) {
				t.Fatalf("command name %q is empty or not lower-case", c.Name)
			}
		}
		_ = info.Keyspace()
		_ = info.Memory()
		if _, reset := st.Sub(st); reset {
			t.Fatal("Sub of identical stats reports a reset")
		}
	})
}
