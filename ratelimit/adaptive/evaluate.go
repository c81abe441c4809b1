package adaptive

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/upstash-ops/sdk/ratelimit"
)

// Evaluate applies the policy to key now. Each change goes to the hook as
// proposed, is written as an override with its TTL unless the hook rejects
// it, and goes to the hook again as applied. Recommendations, and every
// change in recommend-only mode, go to the hook once as recommended. It
// returns the changes in their final stage; a rejected change is left out.
//
// When the key's history has a raise still in force, applied by this
// instance or another, Evaluate also drops the key from this process's
// deny cache. A denial cached before the raise therefore lasts at most
// until the next evaluation.
func (t *Tuner) Evaluate(ctx context.Context, key string) ([]Change, error) {
	proposed, u, err := t.propose(ctx, key)
	if err != nil {
		return nil, err
	}
	last := u.lastChange
	if last.kind == KindRaise && last.stage == StageApplied && u.now.Sub(last.at) < t.policy.RaiseTTL {
		t.limits.ForgetDenial(key)
	}
	var done []Change
	for _, c := range proposed {
		ok, err := t.deliver(ctx, &c)
		if err != nil {
			return done, err
		}
		if ok {
			done = append(done, c)
		}
	}
	return done, nil
}

// EvaluateKeys runs Evaluate for each key and returns every change. A key
// whose evaluation fails does not stop the others; the error joins every
// failure. It stops early only when ctx ends.
func (t *Tuner) EvaluateKeys(ctx context.Context, keys []string) ([]Change, error) {
	var all []Change
	var errs []error
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		changes, err := t.Evaluate(ctx, key)
		all = append(all, changes...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return all, errors.Join(errs...)
}

// Run flushes the recorder and evaluates the keys it flushed every
// interval on the recorder's clock, until ctx ends. Failures are logged
// and the loop goes on. Run it with an interval no longer than the
// policy's Cooldown, so that every cooldown ends with an evaluation.
func (t *Tuner) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("adaptive: invalid run interval %s: it must be positive", interval)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.recorder.clock.After(interval):
		}
		keys, err := t.recorder.Flush(ctx)
		if err != nil {
			t.logger.Warn("adaptive: flush failed", "error", err)
			continue
		}
		if _, err := t.EvaluateKeys(ctx, keys); err != nil {
			t.logger.Warn("adaptive: evaluation failed", "keys", len(keys), "error", err)
		}
	}
}

func (t *Tuner) deliver(ctx context.Context, c *Change) (bool, error) {
	if c.Kind == KindRecommend || t.recommendOnly {
		c.Stage = StageRecommended
		t.callHook(ctx, *c)
		t.finish(ctx, *c)
		return true, nil
	}
	c.Stage = StageProposed
	if err := t.callHook(ctx, *c); err != nil {
		t.logger.Info("adaptive: change rejected by the hook", "key", c.Key, "kind", c.Kind.String(), "error", err)
		return false, nil
	}
	if err := t.limits.SetOverride(ctx, c.Key, c.To, c.TTL); err != nil {
		return false, fmt.Errorf("adaptive: apply %s of key %q to %g: %w", c.Kind, c.Key, c.To, err)
	}
	c.Stage = StageApplied
	t.callHook(ctx, *c)
	t.finish(ctx, *c)
	return true, nil
}

// finish stores a delivered change in the key's history and notifies.
// A failure of either is logged, and the change is kept.
func (t *Tuner) finish(ctx context.Context, c Change) {
	if err := t.recorder.recordAdjustment(ctx, c); err != nil {
		t.logger.Warn("adaptive: change not stored; other instances may repeat it", "key", c.Key, "kind", c.Kind.String(), "error", err)
	}
	if t.notifier != nil {
		if err := t.notifier.Notify(ctx, c); err != nil {
			t.logger.Warn("adaptive: notification failed", "key", c.Key, "kind", c.Kind.String(), "error", err)
		}
	}
}

func (t *Tuner) callHook(ctx context.Context, c Change) error {
	if t.onAdjust == nil {
		return nil
	}
	return t.onAdjust(ctx, c)
}

// limit returns the limit that decisions use, given the override key's
// value: the override when it is a number, else the default. The decision
// script reads an unparsable override as absent too.
func (t *Tuner) limit(override string) float64 {
	v, err := strconv.ParseFloat(override, 64)
	if override == "" || err != nil || math.IsNaN(v) {
		return t.limits.Algorithm().Limit()
	}
	return min(max(v, 0), ratelimit.MaxLimit)
}

// usage is a key's demand (allowed and denied requests) per limiter period.
type usage struct {
	recent     float64
	baseline   float64 // -1 when the key has no history before the recent window
	dailyPeaks []float64

	lastChange    adjustment // the latest raise or cut, zero when none
	lastRecommend time.Time  // the latest recommendation, zero when none
	now           time.Time
	limit         float64 // the limit decisions use now
}

// Propose returns the changes the policy makes for key now, without
// applying them or calling the hook. Two app instances that share the
// history in Redis propose the same changes.
func (t *Tuner) Propose(ctx context.Context, key string) ([]Change, error) {
	changes, _, err := t.propose(ctx, key)
	return changes, err
}

func (t *Tuner) propose(ctx context.Context, key string) ([]Change, usage, error) {
	now := t.recorder.clock.Now()
	p := t.policy
	acct := Account{}
	if t.lookup != nil {
		a, err := t.lookup.LookupAccount(ctx, key)
		if err != nil {
			t.logger.Warn("adaptive: account lookup failed, treating the key as unknown", "key", key, "error", err)
		} else {
			acct = a
		}
	}
	u, err := t.usage(ctx, key, now)
	if err != nil {
		return nil, usage{}, err
	}
	limit := u.limit

	var changes []Change
	change := func(kind Kind, to float64, ttl time.Duration, flagged bool, reason string) {
		changes = append(changes, Change{Key: key, Account: acct, Kind: kind, From: limit, To: to,
			TTL: ttl, Flagged: flagged, Reason: reason, At: now})
	}
	period := t.limits.Algorithm().Period()
	cooling := !u.lastChange.at.IsZero() && now.Sub(u.lastChange.at) < t.cooldown()

	switch {
	case cooling:
		// Another raise or cut within the cooldown, by this instance or
		// another, would act before the last one shows in the history.
	case !p.DisableRaise && acct.Trusted && limit > 0 && u.recent >= p.NearLimit*limit &&
		(u.baseline <= 0 || u.recent >= p.SpikeFactor*u.baseline) && limit < t.raiseCap():
		to := t.bound(min(limit*p.RaiseFactor, t.raiseCap()))
		change(KindRaise, to, p.RaiseTTL, false, fmt.Sprintf(
			"trusted key at %.0f per %s, %.0f%% of its limit %g and %s its baseline: raised to %g for %s",
			u.recent, period, 100*u.recent/limit, limit, timesBaseline(u), to, p.RaiseTTL))
	case !p.DisableTighten && !acct.Trusted && u.baseline > 0 && u.recent >= p.AbuseFactor*u.baseline && limit > p.Floor:
		to := t.bound(limit * p.TightenFactor)
		who := "unknown key"
		if acct.Known {
			who = "untrusted key"
		}
		change(KindTighten, to, p.TightenTTL, true, fmt.Sprintf(
			"%s at %.0f per %s, %.1fx its baseline of %.1f: limit cut from %g to %g for %s; review it",
			who, u.recent, period, u.recent/u.baseline, u.baseline, limit, to, p.TightenTTL))
	}

	recommendDue := u.lastRecommend.IsZero() || now.Sub(u.lastRecommend) >= p.RecommendEvery
	if !p.DisableRecommend && len(changes) == 0 && !cooling && recommendDue && t.grew(u, limit) {
		to := t.bound(limit * p.GrowthFactor)
		if to > limit {
			change(KindRecommend, to, 0, false, fmt.Sprintf(
				"daily peak above %.0f%% of the limit %g on each of the last %d days: raise it to %g before requests are denied",
				100*p.GrowthRatio, limit, p.GrowthDays, to))
		}
	}
	return changes, u, nil
}

// raiseCap returns the highest limit a raise may set.
func (t *Tuner) raiseCap() float64 {
	return min(t.policy.Ceiling, t.limits.Algorithm().Limit()*t.policy.MaxRaise)
}

// cooldown returns the policy's cooldown, RecentBuckets buckets when unset.
func (t *Tuner) cooldown() time.Duration {
	if t.policy.Cooldown > 0 {
		return t.policy.Cooldown
	}
	return time.Duration(t.policy.RecentBuckets) * t.recorder.bucket
}

func timesBaseline(u usage) string {
	if u.baseline <= 0 {
		return "no earlier traffic as"
	}
	return fmt.Sprintf("%.1fx", u.recent/u.baseline)
}

// bound keeps v within the floor and ceiling.
func (t *Tuner) bound(v float64) float64 {
	return min(max(v, t.policy.Floor), t.policy.Ceiling)
}

func (t *Tuner) grew(u usage, limit float64) bool {
	if len(u.dailyPeaks) < t.policy.GrowthDays || limit <= 0 {
		return false
	}
	for _, peak := range u.dailyPeaks {
		if peak < t.policy.GrowthRatio*limit {
			return false
		}
	}
	return true
}

// usage reads key's history and override limit and converts the history
// to demand per limiter period.
// Recent demand is the mean of the last RecentBuckets complete buckets. The
// baseline is the median bucket before them within BaselineWindow, counted
// from the first bucket with traffic with empty buckets as 0, so that a
// flood that goes on for a while does not become its own baseline; a key
// whose median is 0 uses its mean instead. The
// daily peaks are the largest bucket of each of the last GrowthDays days.
func (t *Tuner) usage(ctx context.Context, key string, now time.Time) (usage, error) {
	p := t.policy
	bucket := t.recorder.bucket
	current := now.Truncate(bucket)
	recentStart := current.Add(-time.Duration(p.RecentBuckets) * bucket)
	baselineStart := recentStart.Add(-p.BaselineWindow)
	growthStart := current.Add(-time.Duration(p.GrowthDays) * 24 * time.Hour)
	since := minTime(baselineStart, growthStart, now.Add(-p.RecommendEvery), now.Add(-t.cooldown()),
		now.Add(-p.RaiseTTL))
	h, err := t.recorder.readWithOverride(ctx, key, since, t.limits.OverrideKey(key))
	if err != nil {
		return usage{}, err
	}
	hist, adjustments := h.buckets, h.adjustments
	perPeriod := t.limits.Algorithm().Period().Seconds() / bucket.Seconds()

	u := usage{baseline: -1, dailyPeaks: make([]float64, p.GrowthDays), now: now, limit: t.limit(h.override)}
	for _, a := range adjustments {
		if a.kind == KindRecommend {
			u.lastRecommend = a.at
		} else {
			u.lastChange = a
		}
	}
	var recentSum float64
	var baseline []float64 // requests per bucket, filled from the first bucket with traffic
	var firstBaseline time.Time
	for _, b := range hist {
		switch {
		case b.Start.Before(baselineStart) || !b.Start.Before(current):
		case b.Start.Before(recentStart):
			if firstBaseline.IsZero() {
				firstBaseline = b.Start
				baseline = make([]float64, int(recentStart.Sub(firstBaseline)/bucket))
			}
			if i := int(b.Start.Sub(firstBaseline) / bucket); i < len(baseline) {
				baseline[i] = float64(b.Requests)
			}
		default:
			recentSum += float64(b.Requests)
		}
		if !b.Start.Before(growthStart) && b.Start.Before(current) {
			day := int(current.Sub(b.Start) / (24 * time.Hour))
			if day < len(u.dailyPeaks) {
				u.dailyPeaks[day] = max(u.dailyPeaks[day], float64(b.Requests)*perPeriod)
			}
		}
	}
	u.recent = recentSum / float64(p.RecentBuckets) * perPeriod
	if len(baseline) > 0 {
		var sum float64
		for _, v := range baseline {
			sum += v
		}
		slices.Sort(baseline)
		u.baseline = baseline[len(baseline)/2] * perPeriod
		if u.baseline == 0 {
			// A key busy in fewer than half of its buckets has a median of
			// 0; its mean is the only baseline it has.
			u.baseline = sum / float64(len(baseline)) * perPeriod
		}
	}
	return u, nil
}

func minTime(first time.Time, rest ...time.Time) time.Time {
	for _, t := range rest {
		if t.Before(first) {
			first = t
		}
	}
	return first
}
