package upstashops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// lease is a Redis key that one Operator instance holds while it runs a job,
// so that instances sharing a Redis never run the same job at once. The key
// holds a random token; only the holder's token renews or releases it, and
// it expires by itself when the holder dies.
type lease struct {
	rdb   redis.UniversalClient
	key   string
	token string
	ttl   time.Duration
}

// renewScript extends the lease only while it still holds this token.
var renewScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)

// releaseScript deletes the lease only while it still holds this token.
var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`)

// acquireLease takes the lease key for ttl. It returns ok=false when another
// holder has it.
func acquireLease(ctx context.Context, rdb redis.UniversalClient, key string, ttl time.Duration) (*lease, bool, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, false, fmt.Errorf("upstashops: lease token: %w", err)
	}
	l := &lease{rdb: rdb, key: key, token: hex.EncodeToString(b[:]), ttl: ttl}
	ok, err := rdb.SetNX(ctx, key, l.token, ttl).Result()
	if err != nil {
		return nil, false, fmt.Errorf("upstashops: acquire lease %s: %w", key, err)
	}
	return l, ok, nil
}

// renew extends the lease to ttl from now. It returns ok=false when the
// lease expired and was taken by someone else.
func (l *lease) renew(ctx context.Context) (bool, error) {
	n, err := renewScript.Run(ctx, l.rdb, []string{l.key}, l.token, l.ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("upstashops: renew lease %s: %w", l.key, err)
	}
	return n == 1, nil
}

func (l *lease) release(ctx context.Context) error {
	if err := releaseScript.Run(ctx, l.rdb, []string{l.key}, l.token).Err(); err != nil {
		return fmt.Errorf("upstashops: release lease %s: %w", l.key, err)
	}
	return nil
}
