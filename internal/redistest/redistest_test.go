package redistest

import (
	"context"
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestStartAnswersCommands(t *testing.T) {
	s := Start(t)
	rdb := s.Client(t)
	ctx := context.Background()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	got, err := rdb.Get(ctx, "k").Result()
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	if got != "v" {
		t.Errorf("GET k = %q, want %q", got, "v")
	}
}

func TestStartAppliesConfig(t *testing.T) {
	s := Start(t, WithConfig("maxmemory", "2mb"))
	got, err := s.Client(t).ConfigGet(context.Background(), "maxmemory").Result()
	if err != nil {
		t.Fatalf("CONFIG GET: %v", err)
	}
	if got["maxmemory"] != "2097152" {
		t.Errorf("maxmemory = %q, want 2097152", got["maxmemory"])
	}
}

func TestFlushAllEmptiesKeyspace(t *testing.T) {
	s := Start(t)
	rdb := s.Client(t)
	ctx := context.Background()
	rdb.Set(ctx, "k", "v", 0)
	if err := s.FlushAll(ctx); err != nil {
		t.Fatal(err)
	}
	if n := rdb.DBSize(ctx).Val(); n != 0 {
		t.Errorf("DBSIZE after FlushAll = %d, want 0", n)
	}
}

func TestCloseStopsServer(t *testing.T) {
	s, err := StartProcess()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pingOnce(s.Addr()); err == nil {
		t.Error("server still answers PING after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestMissingBinaryIsClearError(t *testing.T) {
	t.Setenv("REDIS_SERVER", "/nonexistent/redis-server")
	_, err := StartProcess()
	if !errors.Is(err, ErrNotInstalled) {
		t.Errorf("StartProcess with missing binary: err = %v, want ErrNotInstalled", err)
	}
}

func TestStartWithPassword(t *testing.T) {
	s := Start(t, WithConfig("requirepass", "s3cret-pass"))
	rdb := s.Client(t, func(o *redis.Options) { o.Password = "s3cret-pass" })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("PING with password: %v", err)
	}
}
