package costlint

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

const instrumentationName = "github.com/upstash-ops/sdk/costlint"

// WithMeterProvider sets the OpenTelemetry meter provider for the Linter's
// metrics. The default is the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.meterProvider = mp })
}

// WithTracerProvider sets the OpenTelemetry tracer provider for the span
// around each report. The default is the global provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) { c.tracerProvider = tp })
}

// registerMetrics registers observable instruments that read the recorder
// when the meter collects, so the hot path does no metric work:
//
//	costlint.commands     billed commands seen, by command name
//	costlint.connections  new connections dialled
//	costlint.overflow     commands kept out of the aggregates, by cap
func (l *Linter) registerMetrics() error {
	mp := l.cfg.meterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter(instrumentationName)
	commands, err := meter.Int64ObservableCounter("costlint.commands",
		metric.WithDescription("Billed Redis commands seen by the costlint hook."), metric.WithUnit("{command}"))
	if err != nil {
		return err
	}
	dials, err := meter.Int64ObservableCounter("costlint.connections",
		metric.WithDescription("New Redis connections dialled."), metric.WithUnit("{connection}"))
	if err != nil {
		return err
	}
	overflow, err := meter.Int64ObservableCounter("costlint.overflow",
		metric.WithDescription("Commands kept out of costlint's aggregates by a memory cap."), metric.WithUnit("{command}"))
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		r := l.rec.Load()
		r.mu.Lock()
		defer r.mu.Unlock()
		r.entries(func(c *cmdEntry) {
			if !c.info.free {
				o.ObserveInt64(commands, int64(c.calls+c.extra), metric.WithAttributes(attribute.String("command", c.name)))
			}
		})
		o.ObserveInt64(dials, int64(r.dials))
		o.ObserveInt64(overflow, int64(r.siteOverflow), metric.WithAttributes(attribute.String("cap", "call_sites")))
		o.ObserveInt64(overflow, int64(r.patternOverflow), metric.WithAttributes(attribute.String("cap", "patterns")))
		return nil
	}, commands, dials, overflow)
	return err
}

func (l *Linter) tracer() trace.Tracer {
	tp := l.cfg.tracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(instrumentationName)
}
