package upstashops

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/upstash-ops/sdk/internal/clock"
)

var (
	// ErrApprovalNotFound is returned when a pending action does not exist:
	// it was never requested, was decided already or has expired.
	ErrApprovalNotFound = errors.New("upstashops: no pending approval")
	// ErrInvalidSignature is returned for an approval link whose signature
	// does not match or whose expiry has passed.
	ErrInvalidSignature = errors.New("upstashops: invalid or expired approval link")
	// ErrNoRedis is returned by calls that need WithRedis.
	ErrNoRedis = errors.New("upstashops: this needs a Redis client: add WithRedis")
)

// Decision is a person's answer to a pending action.
type Decision string

// The two decisions.
const (
	Approve Decision = "approve"
	Reject  Decision = "reject"
)

// PendingApproval is an action waiting for a person to approve or reject it.
type PendingApproval struct {
	Action    Action    `json:"action"`
	Severity  Severity  `json:"severity"`
	Summary   string    `json:"summary"` // of the finding that proposed the action
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// ApproveURL and RejectURL are signed one-time links to the approval
	// page served by Handler; absolute when WithBaseURL is set. They are
	// filled in when the approval is handed to an Approver and are not
	// stored.
	ApproveURL string `json:"approve_url,omitempty"`
	RejectURL  string `json:"reject_url,omitempty"`
}

// Approver is asked to get a decision for a pending action. It returns once
// the request is sent; the decision comes back later through
// Operator.Decide, called by the approval page of Handler or by the
// application.
type Approver interface {
	RequestApproval(ctx context.Context, p PendingApproval) error
}

// linkApprover sends the signed approval links to the chat channels.
type linkApprover struct{ op *Operator }

func (a linkApprover) RequestApproval(ctx context.Context, p PendingApproval) error {
	a.op.notify.approvalRequest(p)
	return nil
}

// approvalStore keeps pending actions in Redis: one JSON value per action,
// expiring with it, and a sorted set of IDs by expiry for listing.
type approvalStore struct {
	rdb  redis.UniversalClient
	keys keys
	ttl  time.Duration
	clk  clock.Clock
}

// create stores p unless the same action is already pending. It returns
// created=false in that case.
func (s *approvalStore) create(ctx context.Context, p PendingApproval) (bool, error) {
	p.ApproveURL, p.RejectURL = "", ""
	b, err := json.Marshal(p)
	if err != nil {
		return false, fmt.Errorf("upstashops: encode pending action %s: %w", p.Action.ID, err)
	}
	ok, err := s.rdb.SetNX(ctx, s.keys.approval(p.Action.ID), b, s.ttl).Result()
	if err != nil {
		return false, fmt.Errorf("upstashops: store pending action %s: %w", p.Action.ID, err)
	}
	if !ok {
		return false, nil
	}
	err = s.rdb.ZAdd(ctx, s.keys.approvals(), redis.Z{Score: float64(p.ExpiresAt.UnixMilli()), Member: p.Action.ID}).Err()
	if err != nil {
		return false, fmt.Errorf("upstashops: index pending action %s: %w", p.Action.ID, err)
	}
	return true, nil
}

// take removes and returns the pending action id, so that only one caller
// can decide it. An action past its expiry is not taken. With match set, it takes the action only when match
// returns true for it, and otherwise leaves it pending and returns
// ErrApprovalNotFound.
func (s *approvalStore) take(ctx context.Context, id string, match func(PendingApproval) bool) (PendingApproval, error) {
	var p PendingApproval
	key := s.keys.approval(id)
	err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
		b, err := tx.Get(ctx, key).Bytes()
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &p); err != nil {
			return fmt.Errorf("upstashops: decode pending action %s: %w", id, err)
		}
		// Redis expires the key on its own clock; the Operator's clock
		// decides, so that skew never lets an expired action run. The
		// listing removes it and records the expiry.
		if !s.clk.Now().Before(p.ExpiresAt) || (match != nil && !match(p)) {
			return redis.Nil
		}
		_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.Del(ctx, key)
			return nil
		})
		return err
	}, key)
	switch {
	case errors.Is(err, redis.Nil), errors.Is(err, redis.TxFailedErr):
		// Missing, not this request, or decided by someone else meanwhile.
		return p, fmt.Errorf("upstashops: decide action %s: %w", id, ErrApprovalNotFound)
	case err != nil:
		return p, fmt.Errorf("upstashops: take pending action %s: %w", id, err)
	}
	s.rdb.ZRem(ctx, s.keys.approvals(), id)
	return p, nil
}

// list returns the pending actions, soonest expiry first, and the IDs that
// expired since the last call. Only one caller receives each expired ID.
func (s *approvalStore) list(ctx context.Context) ([]PendingApproval, []string, error) {
	now := s.clk.Now().UnixMilli()
	stale, err := s.rdb.ZRangeByScore(ctx, s.keys.approvals(), &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(now, 10)}).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("upstashops: list expired approvals: %w", err)
	}
	var expired []string
	for _, id := range stale {
		if n, _ := s.rdb.ZRem(ctx, s.keys.approvals(), id).Result(); n == 1 {
			s.rdb.Del(ctx, s.keys.approval(id))
			expired = append(expired, id)
		}
	}
	ids, err := s.rdb.ZRangeByScore(ctx, s.keys.approvals(), &redis.ZRangeBy{Min: "(" + strconv.FormatInt(now, 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, expired, fmt.Errorf("upstashops: list pending approvals: %w", err)
	}
	if len(ids) == 0 {
		return nil, expired, nil
	}
	ks := make([]string, len(ids))
	for i, id := range ids {
		ks[i] = s.keys.approval(id)
	}
	vals, err := s.rdb.MGet(ctx, ks...).Result()
	if err != nil {
		return nil, expired, fmt.Errorf("upstashops: read pending approvals: %w", err)
	}
	out := make([]PendingApproval, 0, len(vals))
	for _, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue // expired in Redis before its index entry
		}
		var p PendingApproval
		if json.Unmarshal([]byte(str), &p) == nil {
			out = append(out, p)
		}
	}
	return out, expired, nil
}

// Approvals returns the actions waiting for a decision, soonest expiry
// first, with their signed links. Actions found expired are removed and
// recorded in the audit trail.
func (op *Operator) Approvals(ctx context.Context) ([]PendingApproval, error) {
	if op.approval == nil {
		return nil, nil
	}
	list, expired, err := op.approval.list(ctx)
	for _, id := range expired {
		op.record(ctx, AuditEntry{Event: AuditExpired, ActionID: id, Actor: "operator"})
	}
	for i := range list {
		op.signLinks(&list[i])
	}
	return list, err
}

// Decide approves or rejects the pending action id on behalf of actor, a
// name for the audit trail. An approved action runs at once. It returns
// ErrApprovalNotFound when the action is not pending, so a second decision
// on the same action fails.
func (op *Operator) Decide(ctx context.Context, id string, d Decision, actor string) error {
	return op.decideMatching(ctx, id, d, actor, nil)
}

// decideLink decides id through a signed link that expires at exp. The
// link decides only the request it was signed for: a request for the same
// action made later has another expiry, so an old link, used or not, cannot
// decide it.
func (op *Operator) decideLink(ctx context.Context, id string, d Decision, exp int64) error {
	return op.decideMatching(ctx, id, d, "approval link", func(p PendingApproval) bool { return p.ExpiresAt.Unix() == exp })
}

func (op *Operator) decideMatching(ctx context.Context, id string, d Decision, actor string, match func(PendingApproval) bool) error {
	if op.approval == nil {
		return ErrNoRedis
	}
	if d != Approve && d != Reject {
		return fmt.Errorf("upstashops: invalid decision %q: want %q or %q", d, Approve, Reject)
	}
	p, err := op.approval.take(ctx, id, match)
	if err != nil {
		return err
	}
	a := p.Action
	if d == Reject {
		op.record(ctx, AuditEntry{Event: AuditRejected, ActionID: a.ID, FindingID: a.FindingID, Class: a.Class, Target: a.Target, Actor: actor})
		// The episode's state stays pending, so the action is not requested
		// again while its finding stays open.
		return nil
	}
	op.record(ctx, AuditEntry{Event: AuditApproved, ActionID: a.ID, FindingID: a.FindingID, Class: a.Class, Target: a.Target, Actor: actor})
	return op.actions.execute(ctx, "decided:"+a.ID, a, actor)
}

// signature returns the HMAC of an approval link's fields.
func (op *Operator) signature(id string, d Decision, exp int64) string {
	m := hmac.New(sha256.New, op.cfg.approvalKey)
	fmt.Fprintf(m, "%s\n%s\n%d", id, d, exp)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (op *Operator) verifyLink(id string, d Decision, exp int64, sig string) error {
	if op.clk.Now().Unix() > exp {
		return ErrInvalidSignature
	}
	want := op.signature(id, d, exp)
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return ErrInvalidSignature
	}
	return nil
}

// approvalLink returns the signed link that decides id.
func (op *Operator) approvalLink(id string, d Decision, exp time.Time) string {
	q := url.Values{}
	q.Set("d", string(d))
	q.Set("exp", strconv.FormatInt(exp.Unix(), 10))
	q.Set("sig", op.signature(id, d, exp.Unix()))
	return op.cfg.baseURL + "/approval/" + url.PathEscape(id) + "?" + q.Encode()
}

func (op *Operator) signLinks(p *PendingApproval) {
	p.ApproveURL = op.approvalLink(p.Action.ID, Approve, p.ExpiresAt)
	p.RejectURL = op.approvalLink(p.Action.ID, Reject, p.ExpiresAt)
}
