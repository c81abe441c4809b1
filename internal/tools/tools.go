//go:build tools

// Package tools pins modules that the SDK's packages are being built on, so
// that go mod tidy keeps them while their first importers are still on
// branches. It is excluded from every normal build by its build tag.
package tools

import (
	_ "github.com/alicebob/miniredis/v2"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/redis/go-redis/v9"
	_ "github.com/segmentio/kafka-go"
	_ "github.com/twmb/franz-go/pkg/kfake"
	_ "github.com/upstash/qstash-go"
	_ "go.opentelemetry.io/otel"
	_ "go.opentelemetry.io/otel/metric"
	_ "go.opentelemetry.io/otel/sdk/metric"
	_ "go.opentelemetry.io/otel/sdk/trace"
	_ "go.opentelemetry.io/otel/trace"
	_ "golang.org/x/time/rate"
)
