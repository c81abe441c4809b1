package upstashops

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/upstash-ops/sdk/internal/clock"
)

// AuditEvent names what happened to an action.
type AuditEvent string

// Audit events, in the order an action can go through them.
const (
	AuditRecommended       AuditEvent = "recommended"
	AuditDryRun            AuditEvent = "dry_run"
	AuditApprovalRequested AuditEvent = "approval_requested"
	AuditApproved          AuditEvent = "approved"
	AuditRejected          AuditEvent = "rejected"
	AuditExpired           AuditEvent = "expired"
	AuditExecuting         AuditEvent = "executing"
	AuditExecuted          AuditEvent = "executed"
	AuditFailed            AuditEvent = "failed"
	// AuditSkipped records an action not run because of a cap or a
	// missing executor.
	AuditSkipped AuditEvent = "skipped"
	// AuditDeliveryFailed records a notification that no retry delivered.
	AuditDeliveryFailed AuditEvent = "delivery_failed"
)

// AuditEntry is one record of the audit trail.
type AuditEntry struct {
	// ID is the Redis stream entry ID, or a sequence number without Redis.
	ID        string      `json:"id"`
	Time      time.Time   `json:"time"`
	Event     AuditEvent  `json:"event"`
	ActionID  string      `json:"action_id,omitempty"`
	FindingID string      `json:"finding_id,omitempty"`
	Class     ActionClass `json:"class,omitempty"`
	Target    string      `json:"target,omitempty"`
	Actor     string      `json:"actor,omitempty"`
	Detail    string      `json:"detail,omitempty"`
}

// auditLog appends entries to a Redis stream trimmed to about maxLen
// entries, or without Redis to an in-memory ring of maxLen entries.
type auditLog struct {
	rdb    redis.UniversalClient
	key    string
	maxLen int64
	clk    clock.Clock

	mu   sync.Mutex
	ring []AuditEntry
	seq  int64
}

func newAuditLog(rdb redis.UniversalClient, key string, maxLen int64, clk clock.Clock) *auditLog {
	return &auditLog{rdb: rdb, key: key, maxLen: maxLen, clk: clock.Or(clk)}
}

func (a *auditLog) append(ctx context.Context, e AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = a.clk.Now()
	}
	if a.rdb == nil {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.seq++
		e.ID = strconv.FormatInt(a.seq, 10)
		a.ring = append(a.ring, e)
		if over := int64(len(a.ring)) - a.maxLen; over > 0 {
			a.ring = append(a.ring[:0], a.ring[over:]...)
		}
		return nil
	}
	err := a.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: a.key,
		MaxLen: a.maxLen,
		Approx: true,
		Values: []any{
			"time", e.Time.UTC().Format(time.RFC3339Nano),
			"event", string(e.Event),
			"action", e.ActionID,
			"finding", e.FindingID,
			"class", string(e.Class),
			"target", e.Target,
			"actor", e.Actor,
			"detail", e.Detail,
		},
	}).Err()
	if err != nil {
		return fmt.Errorf("upstashops: append to audit stream %s: %w", a.key, err)
	}
	return nil
}

// recent returns up to n entries, newest first.
func (a *auditLog) recent(ctx context.Context, n int) ([]AuditEntry, error) {
	if a.rdb == nil {
		a.mu.Lock()
		defer a.mu.Unlock()
		out := make([]AuditEntry, 0, min(n, len(a.ring)))
		for i := len(a.ring) - 1; i >= 0 && len(out) < n; i-- {
			out = append(out, a.ring[i])
		}
		return out, nil
	}
	msgs, err := a.rdb.XRevRangeN(ctx, a.key, "+", "-", int64(n)).Result()
	if err != nil {
		return nil, fmt.Errorf("upstashops: read audit stream %s: %w", a.key, err)
	}
	out := make([]AuditEntry, 0, len(msgs))
	for _, m := range msgs {
		str := func(k string) string { s, _ := m.Values[k].(string); return s }
		t, _ := time.Parse(time.RFC3339Nano, str("time"))
		out = append(out, AuditEntry{
			ID: m.ID, Time: t, Event: AuditEvent(str("event")), ActionID: str("action"),
			FindingID: str("finding"), Class: ActionClass(str("class")), Target: str("target"),
			Actor: str("actor"), Detail: str("detail"),
		})
	}
	return out, nil
}

// Audit returns up to n audit entries, newest first.
func (op *Operator) Audit(ctx context.Context, n int) ([]AuditEntry, error) {
	if n <= 0 {
		n = 100
	}
	return op.audit.recent(ctx, n)
}

func (op *Operator) record(ctx context.Context, e AuditEntry) {
	if err := op.audit.append(ctx, e); err != nil {
		op.log.LogAttrs(ctx, slog.LevelError, "upstashops: audit write failed", slog.String("event", string(e.Event)), slog.String("action", e.ActionID), slog.String("error", err.Error()))
	}
}
