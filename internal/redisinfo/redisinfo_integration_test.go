package redisinfo_test

import (
	"context"
	"testing"

	"github.com/upstash-ops/sdk/internal/redisinfo"
	"github.com/upstash-ops/sdk/internal/redistest"
)

func TestFetchRealServer(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()

	for i := range 5 {
		rdb.Set(ctx, "k", i, 0)
		rdb.Get(ctx, "k")
	}
	rdb.Get(ctx, "missing")

	src := redisinfo.InfoFunc(func(ctx context.Context, s ...string) (string, error) {
		return rdb.Info(ctx, s...).Result()
	})
	info, err := redisinfo.Fetch(ctx, src, "stats", "commandstats", "keyspace", "memory")
	if err != nil {
		t.Fatal(err)
	}

	calls := map[string]int64{}
	for _, c := range info.CommandStats() {
		calls[c.Name] = c.Calls
	}
	if calls["get"] != 6 || calls["set"] != 5 {
		t.Errorf("commandstats get=%d set=%d, want 6 and 5", calls["get"], calls["set"])
	}
	st := info.Stats()
	if st.KeyspaceHits != 5 || st.KeyspaceMisses != 1 {
		t.Errorf("keyspace hits/misses = %d/%d, want 5/1", st.KeyspaceHits, st.KeyspaceMisses)
	}
	if ks := info.Keyspace(); len(ks) != 1 || ks[0].Keys != 1 {
		t.Errorf("Keyspace() = %+v, want one db with 1 key", ks)
	}
	if info.Memory().UsedMemory <= 0 {
		t.Error("used_memory not parsed")
	}
}
