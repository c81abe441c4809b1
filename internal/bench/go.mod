module github.com/upstash-ops/sdk/internal/bench

go 1.26.0

require github.com/upstash-ops/sdk v0.0.0

replace github.com/upstash-ops/sdk => ../..
