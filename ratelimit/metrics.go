package ratelimit

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

const meterName = "github.com/upstash-ops/sdk/ratelimit"

// instruments are the limiter's OpenTelemetry metrics:
//
//	ratelimit.decisions                    decisions, by allowed and source
//	ratelimit.deny_cache.saved_commands    billed Redis commands the deny cache avoided
//	ratelimit.backend.failures             Redis failures, by failure policy
type instruments struct {
	decisions metric.Int64Counter
	saved     metric.Int64Counter
	failures  metric.Int64Counter

	// Attribute sets built once, each in a slice of its own, so that
	// recording allocates nothing.
	decisionAttrs [2][5][]metric.AddOption
	policyAttrs   [3][]metric.AddOption
}

func newInstruments(mp metric.MeterProvider) (*instruments, error) {
	m := mp.Meter(meterName)
	var ins instruments
	var err error
	if ins.decisions, err = m.Int64Counter("ratelimit.decisions",
		metric.WithDescription("Rate-limit decisions, by outcome and by what made them."),
		metric.WithUnit("{decision}")); err != nil {
		return nil, fmt.Errorf("ratelimit: create metric ratelimit.decisions: %w", err)
	}
	if ins.saved, err = m.Int64Counter("ratelimit.deny_cache.saved_commands",
		metric.WithDescription("Billed Redis commands that the local deny cache avoided."),
		metric.WithUnit("{command}")); err != nil {
		return nil, fmt.Errorf("ratelimit: create metric ratelimit.deny_cache.saved_commands: %w", err)
	}
	if ins.failures, err = m.Int64Counter("ratelimit.backend.failures",
		metric.WithDescription("Redis calls that failed or timed out, by the failure policy that decided instead."),
		metric.WithUnit("{failure}")); err != nil {
		return nil, fmt.Errorf("ratelimit: create metric ratelimit.backend.failures: %w", err)
	}
	for a, allowed := range []bool{false, true} {
		for s := range ins.decisionAttrs[a] {
			ins.decisionAttrs[a][s] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
				attribute.Bool("ratelimit.allowed", allowed),
				attribute.String("ratelimit.source", Source(s).String())))}
		}
	}
	for p := range ins.policyAttrs {
		ins.policyAttrs[p] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
			attribute.String("ratelimit.policy", FailurePolicy(p).String())))}
	}
	return &ins, nil
}

func (ins *instruments) decision(ctx context.Context, r Result) {
	a := 0
	if r.Allowed {
		a = 1
	}
	ins.decisions.Add(ctx, 1, ins.decisionAttrs[a][r.Source]...)
}

func (ins *instruments) denyCacheHit(ctx context.Context, saved int64) {
	ins.decisions.Add(ctx, 1, ins.decisionAttrs[0][SourceDenyCache]...)
	ins.saved.Add(ctx, saved)
}

func (ins *instruments) backendFailure(ctx context.Context, p FailurePolicy) {
	ins.failures.Add(ctx, 1, ins.policyAttrs[p]...)
}
