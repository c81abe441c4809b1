package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/upstash-ops/sdk/internal/clock"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Errors that callers branch on with errors.Is.
var (
	// ErrTimeout reports that Redis did not reply within the per-call
	// timeout (WithTimeout).
	ErrTimeout = errors.New("ratelimit: redis call timed out")
	// ErrOverloaded reports that the bound on outstanding Redis calls
	// (WithMaxInFlight) was reached, which happens when Redis stops
	// replying under load.
	ErrOverloaded = errors.New("ratelimit: too many redis calls in flight")
	// ErrBackend wraps every other failure of a Redis call.
	ErrBackend = errors.New("ratelimit: redis call failed")
)

const tracerName = "github.com/upstash-ops/sdk/ratelimit"

// Limiter decides requests per key against a limit kept in Redis. Each
// decision is one round trip: one Lua script that reads the key's state and
// override limit with one MGET and, when the request is allowed, writes the
// new state with one SET carrying a TTL. FixedWindow instead decides most
// requests with one INCRBY; the package documentation lists the billed
// commands of each case.
//
// A Limiter is safe for concurrent use. Its memory is bounded by the deny
// cache (WithDenyCache, 10,000 keys by default), the per-key fallback
// limiters of FailLocal (WithLocalFallbackKeys, 10,000 keys by default), the
// fixed window's record of begun windows (10,000 keys) and the outstanding
// Redis calls (WithMaxInFlight, 1024 by default). Build one
// with New; the zero value is not usable.
type Limiter struct {
	rdb    Scripter
	alg    Algorithm
	script *script
	cfg    config
	clock  clock.Clock

	deny    *denyCache // nil when turned off
	local   *localLimiters
	workers *workers
	// deadlines bounds each Redis call by cfg.timeout.
	deadlines *deadlines
	windows   *windowMemory // fixed window only

	// inline is true when rdb honours context deadlines, so calls run on
	// the caller's goroutine; inlineCalls counts them.
	inline      bool
	inlineCalls atomic.Int64

	metrics *instruments
	tracer  trace.Tracer
	logs    logThrottle

	// Built once in New, because every decision sends them.
	limitArg, periodArg, burstArg any    // strings, converted once
	fixedWindowArg                string // " period limit"
	spanOpts                      []trace.SpanStartOption
}

// New returns a Limiter that keeps its state in rdb and decides with alg.
// It returns an error when rdb is nil, alg is the zero Algorithm or the
// prefix is invalid; every limit value is valid (see Algorithm).
func New(rdb Scripter, alg Algorithm, opts ...Option) (*Limiter, error) {
	if rdb == nil {
		return nil, errors.New("ratelimit: redis client is nil")
	}
	if alg.kind == kindNone {
		return nil, errors.New("ratelimit: algorithm is the zero value: build it with FixedWindow, SlidingWindow, TokenBucket or GCRA")
	}
	cfg := config{
		prefix:        DefaultPrefix,
		timeout:       DefaultTimeout,
		denyCacheSize: DefaultDenyCacheSize,
		localKeys:     DefaultLocalKeys,
		maxInFlight:   DefaultMaxInFlight,
	}
	for _, opt := range opts {
		opt.apply(&cfg)
	}
	if cfg.prefix == "" || strings.ContainsAny(cfg.prefix, "{}") {
		return nil, fmt.Errorf("ratelimit: invalid key prefix %q: it must be non-empty and contain no '{' or '}'", cfg.prefix)
	}
	if cfg.meterProvider == nil {
		cfg.meterProvider = otel.GetMeterProvider()
	}
	if cfg.tracer == nil {
		cfg.tracer = otel.GetTracerProvider()
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	metrics, err := newInstruments(cfg.meterProvider)
	if err != nil {
		return nil, err
	}
	l := &Limiter{
		rdb:     rdb,
		alg:     alg,
		script:  decisionScripts[alg.kind],
		cfg:     cfg,
		clock:   clock.Or(cfg.clock),
		local:   newLocalLimiters(cfg.localKeys),
		workers: newWorkers(cfg.maxInFlight),

		deadlines: newDeadlines(cfg.timeout),
		inline:    honoursContextDeadlines(rdb),
		metrics:   metrics,
		tracer:    cfg.tracer.Tracer(tracerName),

		limitArg:  formatFloat(alg.limit),
		periodArg: strconv.FormatInt(alg.period.Microseconds(), 10),
		burstArg:  formatFloat(alg.burst),

		fixedWindowArg: " " + strconv.FormatInt(alg.period.Microseconds(), 10) + " " + formatFloat(alg.limit),
		spanOpts: []trace.SpanStartOption{
			trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("ratelimit.algorithm", alg.name())),
		},
	}
	if cfg.denyCacheSize > 0 {
		l.deny = newDenyCache(cfg.denyCacheSize)
	}
	if alg.kind == kindFixedWindow {
		l.windows = newWindowMemory(DefaultDenyCacheSize)
	}
	return l, nil
}

// Algorithm returns the limiter's algorithm with its default limit.
func (l *Limiter) Algorithm() Algorithm { return l.alg }

// keys returns the state and override keys of key, built with one
// allocation.
func (l *Limiter) keys(key string) (state, override string) {
	both := "{" + l.cfg.prefix + ":" + key + "}:" + l.alg.suffix() + "{" + l.cfg.prefix + ":" + key + "}:limit"
	split := len(both) - len(l.cfg.prefix) - len(key) - len("{:}:limit")
	return both[:split], both[split:]
}

// StateKey returns the Redis key that holds key's state:
// "{prefix:key}:fw" (or :sw, :tb, :gc by algorithm). The part in braces is
// the Redis Cluster hash tag, so the state and override keys of one key
// always share a slot.
func (l *Limiter) StateKey(key string) string {
	return "{" + l.cfg.prefix + ":" + key + "}:" + l.alg.suffix()
}

// OverrideKey returns the Redis key that holds key's override limit:
// "{prefix:key}:limit".
func (l *Limiter) OverrideKey(key string) string {
	return "{" + l.cfg.prefix + ":" + key + "}:limit"
}

// Allow is AllowN(ctx, key, 1).
func (l *Limiter) Allow(ctx context.Context, key string) (Result, error) {
	return l.AllowN(ctx, key, 1)
}

// AllowN decides a request of cost n for key and, when it is allowed,
// spends n. A cost that does not fit leaves the state unchanged. A cost of
// zero or less is a peek, like Remaining.
//
// The error is non-nil only when ctx ended before a decision. When Redis
// fails or exceeds the timeout, the failure policy decides and the Result
// records that in Source and Err.
func (l *Limiter) AllowN(ctx context.Context, key string, n int) (Result, error) {
	if n <= 0 {
		return l.Remaining(ctx, key)
	}
	res, err := l.allowN(ctx, key, n)
	if err == nil && l.cfg.onDecision != nil {
		l.cfg.onDecision(key, res)
	}
	return res, err
}

func (l *Limiter) allowN(ctx context.Context, key string, n int) (Result, error) {
	now := l.clock.Now()
	var gen uint64
	if l.deny != nil {
		if res, ok := l.deny.get(key, now, l.alg.period); ok {
			l.metrics.denyCacheHit(ctx, l.billedPerCall())
			return res, nil
		}
		gen = l.deny.generation()
	}

	res, retry1, err := l.decide(ctx, key, n, now)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return Result{}, fmt.Errorf("ratelimit: decide key %q: %w", key, ctxErr)
		}
		res = l.fail(ctx, key, n, now, err)
		l.metrics.decision(ctx, res)
		return res, nil
	}

	if !res.Allowed && retry1 != 0 && l.deny != nil {
		wait := time.Duration(retry1) * time.Microsecond
		if retry1 < 0 {
			wait = l.alg.period
		}
		l.deny.put(key, now, wait, res, gen)
	}
	l.metrics.decision(ctx, res)
	return res, nil
}

// Remaining returns the key's state without spending anything and without
// creating a key in Redis. Result.Allowed reports whether a request of cost
// 1 would be allowed now. Unlike AllowN it returns the Redis error instead
// of applying the failure policy.
func (l *Limiter) Remaining(ctx context.Context, key string) (Result, error) {
	res, _, err := l.decide(ctx, key, 0, l.clock.Now())
	if err != nil {
		return Result{}, err
	}
	res.Allowed = res.Remaining >= 1
	res.RetryAfter = 0
	res.Reason = ReasonNone
	return res, nil
}

// Reset deletes the key's state in Redis, so that its full limit is
// available again, and clears its entry in the local deny cache. The
// override limit, if any, stays. For FixedWindow, Reset keeps the window's
// state with a count of 0 and marks it, so that every process rereads the
// limit on its next decision for key (3 billed commands instead of 2).
func (l *Limiter) Reset(ctx context.Context, key string) error {
	s := resetLua
	if l.alg.kind == kindFixedWindow {
		s = fixedResetLua
	}
	_, err := l.call(ctx, s, []string{l.StateKey(key)})
	// After the call, so that a denial cached while it ran goes too.
	l.forgetLocal(key)
	if err != nil {
		return fmt.Errorf("ratelimit: reset key %q: %w", key, err)
	}
	return nil
}

// Wait is WaitN(ctx, key, 1).
func (l *Limiter) Wait(ctx context.Context, key string) (Result, error) {
	return l.WaitN(ctx, key, 1)
}

// WaitN blocks until a request of cost n for key is allowed, and spends it,
// or until ctx ends, in which case it returns the last denial and an error
// wrapping ctx.Err(). Between tries it sleeps for the denial's RetryAfter on
// the limiter's clock. A cost above what the limit can ever admit keeps
// waiting, one period per try, because an override may raise the limit.
// A cost of zero or less returns the peek of Remaining at once, because it
// spends nothing and so never has to wait.
func (l *Limiter) WaitN(ctx context.Context, key string, n int) (Result, error) {
	if n <= 0 {
		return l.Remaining(ctx, key)
	}
	for {
		res, err := l.AllowN(ctx, key, n)
		if err != nil || res.Allowed {
			return res, err
		}
		wait := max(res.RetryAfter, time.Millisecond)
		if err := clock.Sleep(ctx, l.clock, wait); err != nil {
			return res, fmt.Errorf("ratelimit: wait for key %q: %w", key, err)
		}
	}
}

// ForgetDenial removes key from the local deny cache, so that its next
// decision goes to Redis. Reset, SetOverride and ClearOverride call it; a
// caller that changes a limit by other means calls it itself.
func (l *Limiter) ForgetDenial(key string) {
	if l.deny != nil {
		l.deny.remove(key)
	}
}

// forgetLocal drops what this process remembers of key: its deny cache
// entry and its fixed window.
func (l *Limiter) forgetLocal(key string) {
	l.ForgetDenial(key)
	if l.windows != nil {
		l.windows.forget(key)
	}
}

// decide runs the algorithm's script for cost n (0 for a peek). It returns
// the decision and the wait in microseconds until a cost-1 request would be
// allowed (0: now, -1: never at this limit), which sizes the deny cache
// entry.
func (l *Limiter) decide(ctx context.Context, key string, n int, now time.Time) (Result, int64, error) {
	if l.alg.kind == kindFixedWindow {
		return l.decideFixedWindow(ctx, key, n, now)
	}
	var nowArg any = ""
	if !l.cfg.serverTime {
		nowArg = now.UnixMicro() // go-redis writes it in decimal
	}
	stateKey, overrideKey := l.keys(key)
	argv := []any{nil, nil, 2, stateKey, overrideKey, nowArg, l.limitArg, l.periodArg, l.burstArg, nil}
	if n == 1 {
		argv = argv[:len(argv)-1]
	} else {
		argv[len(argv)-1] = min(n, MaxLimit+1) // no limit admits more; keeps the cost exact in Lua
	}
	v, err := l.callArgv(ctx, l.script, argv)
	if err != nil {
		return Result{}, 0, fmt.Errorf("ratelimit: decide key %q: %w", key, err)
	}
	return l.parseDecision(key, v)
}

// decideFixedWindow runs the fixed window script (see fixedWindowScript)
// and derives the decision from the state it returns.
func (l *Limiter) decideFixedWindow(ctx context.Context, key string, n int, now time.Time) (Result, int64, error) {
	nowMicros := now.UnixMicro()
	cost := int64(min(n, fixedWindowMax+1)) // no window admits more
	win, seen := l.windows.current(key, nowMicros)
	// The script replies with the time left in the window, counted from
	// the time it decided at. That is the time argument, which is when this
	// process first saw a remembered window, or under WithServerTime the
	// Redis clock, which this process's clock replaces here.
	scriptNow := nowMicros
	if seen && !l.cfg.serverTime {
		scriptNow = win.seenAt
	}
	var v any
	var err error
	var stateKey, overrideKey, timeArg string
	switch {
	case seen && n == 1:
		// One element fewer than below: the script's default cost is 1.
		v, err = l.callArgv(ctx, l.script, []any{nil, nil, 2, win.stateKeyArg, win.overrideKeyArg, win.windowArg, win.timeArg})
	case seen && n > 1:
		v, err = l.callArgv(ctx, l.script, []any{nil, nil, 2, win.stateKeyArg, win.overrideKeyArg, win.windowArg, win.timeArg, cost})
	default:
		stateKey, overrideKey = l.keys(key)
		timeArg = l.fixedWindowTimeArg(nowMicros)
		v, err = l.callArgv(ctx, l.script, []any{nil, nil, 2, stateKey, overrideKey, 0, timeArg, cost})
	}
	if err != nil {
		// The state may have changed under the remembered window.
		l.windows.forget(key)
		return Result{}, 0, fmt.Errorf("ratelimit: decide key %q: %w", key, err)
	}
	state, hot := v.(int64)
	if !hot {
		arr, _ := v.([]any)
		var ok bool
		if win, ok = parseWindow(arr); !ok {
			l.windows.forget(key)
			return Result{}, 0, fmt.Errorf("ratelimit: decide key %q: %w: unexpected script reply %T %v", key, ErrBackend, v, v)
		}
		state = arr[0].(int64)
		win.header = state / fixedWindowUnit
		win.end += scriptNow
	}
	res, retry1, used := l.fixedWindowDecision(state, win, nowMicros, cost)
	if !hot && (res.Allowed || used > 0) {
		// The window exists in Redis: decide the next request with one
		// INCRBY.
		if stateKey == "" {
			stateKey, overrideKey = l.keys(key)
			timeArg = l.fixedWindowTimeArg(nowMicros)
		}
		win.seenAt = nowMicros
		l.windows.remember(key, stateKey, overrideKey, timeArg, win)
	}
	return res, retry1, nil
}

// fixedWindowTimeArg returns the fixed window script's "now period limit"
// argument for a decision at now (microseconds), with an empty time under
// WithServerTime.
func (l *Limiter) fixedWindowTimeArg(now int64) string {
	if l.cfg.serverTime {
		return l.fixedWindowArg
	}
	return strconv.FormatInt(now, 10) + l.fixedWindowArg
}

// parseWindow reads the {state, cap, time left} reply of the fixed window
// script's slow path. The returned window's end is the time left, which
// the caller adds the script's time to.
func parseWindow(arr []any) (window, bool) {
	if len(arr) != 3 {
		return window{}, false
	}
	var f [3]int64
	for i, e := range arr {
		x, ok := e.(int64)
		if !ok || x < 0 {
			return window{}, false
		}
		f[i] = x
	}
	return window{capacity: f[1], end: f[2]}, true
}

// fixedWindowDecision derives the decision for a request of cost n (0 for
// a peek) at now (microseconds) from the state the script returned, which
// counts the request whether it was admitted or not, and the window it
// belongs to. It also returns the units used in the window.
func (l *Limiter) fixedWindowDecision(state int64, win window, now, n int64) (Result, int64, int64) {
	used := state % fixedWindowUnit
	allowed := n > 0 && used <= win.capacity
	if n > 0 && !allowed {
		used -= n
	}
	reset := max(min(win.end-now, l.alg.period.Microseconds()), 1)
	retry := func(k int64) int64 {
		switch {
		case k > win.capacity:
			return -1
		case used+k <= win.capacity:
			return 0
		default:
			return reset
		}
	}
	res := Result{
		Allowed:   allowed,
		Limit:     float64(win.capacity),
		Remaining: max(0, win.capacity-used),
		Period:    l.alg.period,
		Source:    SourceRedis,
	}
	if used > 0 {
		res.ResetAfter = time.Duration(reset) * time.Microsecond
	}
	if n > 0 && !allowed {
		if retry(n) < 0 {
			res.Reason = ReasonCostExceedsLimit
			res.RetryAfter = l.alg.period
		} else {
			res.Reason = ReasonLimitExceeded
			res.RetryAfter = time.Duration(reset) * time.Microsecond
		}
	}
	return res, retry(1), used
}

func (l *Limiter) parseDecision(key string, v any) (Result, int64, error) {
	arr, ok := v.([]any)
	if !ok || (len(arr) != 4 && len(arr) != 6) {
		return Result{}, 0, fmt.Errorf("ratelimit: decide key %q: %w: unexpected script reply %T %v", key, ErrBackend, v, v)
	}
	var ints [5]int64
	for i := range min(len(arr), len(ints)) {
		n, ok := arr[i].(int64)
		if !ok {
			return Result{}, 0, fmt.Errorf("ratelimit: decide key %q: %w: reply element %d is %T, expected an integer", key, ErrBackend, i, arr[i])
		}
		ints[i] = n
	}
	// The short reply: cost 1 (or a peek) at the default limit.
	retry1, retryN, limit := ints[2], ints[2], l.alg.limit
	if len(arr) == 6 {
		retryN = ints[4]
		switch v := arr[5].(type) {
		case int64:
			limit = float64(v)
		case string:
			var err error
			if limit, err = strconv.ParseFloat(v, 64); err != nil {
				return Result{}, 0, fmt.Errorf("ratelimit: decide key %q: %w: invalid limit %q in reply", key, ErrBackend, v)
			}
		default:
			return Result{}, 0, fmt.Errorf("ratelimit: decide key %q: %w: reply element 5 is %T, expected the limit", key, ErrBackend, arr[5])
		}
	}

	res := Result{
		Allowed:    ints[0] == 1,
		Limit:      limit,
		Remaining:  ints[1],
		ResetAfter: time.Duration(ints[3]) * time.Microsecond,
		Period:     l.alg.period,
		Source:     SourceRedis,
	}
	if !res.Allowed {
		if retryN < 0 {
			res.Reason = ReasonCostExceedsLimit
			res.RetryAfter = l.alg.period
		} else {
			res.Reason = ReasonLimitExceeded
			res.RetryAfter = time.Duration(retryN) * time.Microsecond
		}
	}
	return res, retry1, nil
}

// call runs s with a per-call timeout. When the go-redis client honours
// context deadlines (ContextTimeoutEnabled), the call runs on the caller's
// goroutine. Otherwise it runs on a worker goroutine, so that a Redis that
// accepts connections but never replies delays the caller by the timeout
// alone, whatever the client's own read timeout is. The worker is free
// again when the client gives up.
func (l *Limiter) call(ctx context.Context, s *script, keys []string, args ...any) (any, error) {
	return l.callArgv(ctx, s, commandArgs(keys, args...))
}

// callArgv is call with the command's arguments laid out by commandArgs.
func (l *Limiter) callArgv(ctx context.Context, s *script, argv []any) (any, error) {
	if l.workers.closed.Load() {
		return nil, ErrClosed
	}
	span := noSpan
	if trace.SpanFromContext(ctx).IsRecording() {
		ctx, span = l.tracer.Start(ctx, "ratelimit.redis", l.spanOpts...)
		defer span.End()
	}

	callCtx := l.deadlines.start(ctx)
	if l.inline {
		v, err := l.callInline(callCtx, s, argv)
		return v, l.wrapCallError(ctx, callCtx, span, err)
	}
	j := &job{
		ctx:  callCtx,
		run:  func(ctx context.Context) (any, error) { return s.run(ctx, l.rdb, argv) },
		done: make(chan callResult, 1),
	}
	if !l.workers.submit(j) {
		span.SetStatus(codes.Error, ErrOverloaded.Error())
		return nil, ErrOverloaded
	}

	var r callResult
	select {
	case r = <-j.done:
	case <-callCtx.Done():
		r.err = callCtx.Err()
	case <-ctx.Done():
		r.err = ctx.Err()
	}
	return r.v, l.wrapCallError(ctx, callCtx, span, r.err)
}

// callInline runs s on the caller's goroutine, counting it against the
// bound on outstanding calls.
func (l *Limiter) callInline(ctx context.Context, s *script, argv []any) (any, error) {
	if l.inlineCalls.Add(1) > int64(l.cfg.maxInFlight) {
		l.inlineCalls.Add(-1)
		return nil, ErrOverloaded
	}
	defer l.inlineCalls.Add(-1)
	return s.run(ctx, l.rdb, argv)
}

// wrapCallError classifies err: the caller's own context error as it is,
// a timeout as ErrTimeout, anything else as ErrBackend.
func (l *Limiter) wrapCallError(ctx, callCtx context.Context, span trace.Span, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrOverloaded), errors.Is(err, ErrClosed):
	case ctx.Err() != nil:
		err = ctx.Err()
	case callCtx.Err() != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)):
		err = fmt.Errorf("%w after %s", ErrTimeout, l.cfg.timeout)
	case callCtx.Err() != nil || isNetTimeout(err):
		// A client that honours the deadline can report it as a socket
		// timeout a moment before the context's own timer fires.
		err = fmt.Errorf("%w after %s: %w", ErrTimeout, l.cfg.timeout, err)
	default:
		err = fmt.Errorf("%w: %w", ErrBackend, err)
	}
	span.SetStatus(codes.Error, err.Error())
	return err
}

// noSpan stands for the span of a Redis call made outside a recorded
// trace, which the limiter does not start.
var noSpan = trace.SpanFromContext(context.Background())

type callResult struct {
	v   any
	err error
}

// billedPerCall is the billed commands of a denial in Redis, which is what
// one deny-cache hit saves: the EVALSHA and the MGET, plus TIME under
// WithServerTime, or for FixedWindow the EVALSHA and two INCRBYs.
func (l *Limiter) billedPerCall() int64 {
	if l.alg.kind == kindFixedWindow {
		// A denial in a current window: EVALSHA and two INCRBYs.
		return 3
	}
	if l.cfg.serverTime {
		return 3
	}
	return 2
}

// honoursContextDeadlines reports whether rdb is a go-redis client with
// ContextTimeoutEnabled, which bounds its socket reads and writes by the
// context deadline.
func honoursContextDeadlines(rdb Scripter) bool {
	switch c := rdb.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
