// Command operator is a small service wired to the upstashops Operator: a
// Redis-backed API with a rate limit, the checks on their cadences, alerts
// to Slack or the log, and the dashboard at /debug/upstashops/.
//
// It runs with nothing installed: without REDIS_URL it starts an in-process
// Redis (miniredis), and without QSTASH_URL and QSTASH_TOKEN it starts the QStash
// emulator with a workflow that keeps failing with 401 and a schedule whose
// endpoint is gone. Neither default contacts any host.
//
//	go run ./examples/operator            # serve on 127.0.0.1:8080 until interrupted
//	go run ./examples/operator -once      # run every job once, print the findings, exit
//
// With -once the cost job sees a window of milliseconds, too short to
// project to a month, so its findings carry no savings; a served instance
// reports them from its first run an hour or more after start.
//
// The report goes to stdout and the log to stderr.
//
// # Environment
//
// The command reads these variables, so a shell that exports them changes
// what it talks to:
//
//	REDIS_URL          Redis to use instead of the in-process one.
//	QSTASH_URL         QStash API base URL, used only together with QSTASH_TOKEN.
//	QSTASH_TOKEN       QStash token. With QSTASH_URL also set, the checks
//	                   read the schedules and Workflow logs of that real
//	                   account, and approved actions (such as deleting a
//	                   schedule) change it. With only one of the two set,
//	                   the emulator is used.
//	SLACK_WEBHOOK_URL  Slack incoming webhook for alerts. Without it,
//	                   alerts go to the log on stderr.
//	DASHBOARD_TOKEN    Dashboard login token. Without it, a random token
//	                   is printed with the login URL when the dashboard
//	                   is served (never with -once).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/upstash-ops/sdk/correlate"
	"github.com/upstash-ops/sdk/internal/qstashemu"
	"github.com/upstash-ops/sdk/ratelimit"
	"github.com/upstash-ops/sdk/upstashops"
)

const usage = `Usage: operator [-addr host:port] [-once]

Runs a demo service with the upstashops Operator. Without REDIS_URL it uses
an in-process Redis, and without QSTASH_URL and QSTASH_TOKEN an in-process
QStash emulator. With none of the variables below set, it contacts no other
host. The report goes to stdout and the log to stderr.

Environment:
  REDIS_URL          Redis to use instead of the in-process one
  QSTASH_URL         QStash API base URL (used only with QSTASH_TOKEN)
  QSTASH_TOKEN       QStash token: with QSTASH_URL also set, the checks read
                     that real account, and approved actions change it
  SLACK_WEBHOOK_URL  Slack incoming webhook for alerts (default: log on stderr)
  DASHBOARD_TOKEN    dashboard login token (default: a random one, printed
                     with the login URL when the dashboard is served)

Flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "operator:", err)
		os.Exit(1)
	}
}

// run writes the report (with -once) or the serving address to stdout and
// the log to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("operator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "127.0.0.1:8080", "listen address of the API and the dashboard")
	once := fs.Bool("once", false, "run every job once, print the findings and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -help printed the usage
		}
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	embedded := getenv("REDIS_URL") == ""
	rdb, closeRedis, err := openRedis(getenv("REDIS_URL"))
	if err != nil {
		return err
	}
	defer closeRedis()
	qstashURL, qstashToken, closeQStash := openQStash(getenv("QSTASH_URL"), getenv("QSTASH_TOKEN"))
	defer closeQStash()

	// The review sees every decision of the limiter, so requests decided by
	// ratelimit.Middleware elsewhere in the app would count too.
	review := upstashops.NewRateLimitReview()
	limiter, err := ratelimit.New(rdb, ratelimit.SlidingWindow(20, time.Minute), ratelimit.WithOnDecision(review.Observe))
	if err != nil {
		return fmt.Errorf("create rate limiter: %w", err)
	}
	// A generated token is printed only once the dashboard is served, so
	// -once never shows it.
	token := getenv("DASHBOARD_TOKEN")
	generated := token == ""
	if generated {
		token = randomToken()
	}
	app := &app{rdb: rdb}
	notifier := upstashops.Slog(logger)
	if u := getenv("SLACK_WEBHOOK_URL"); u != "" {
		notifier = upstashops.Slack(u)
	}

	opts := []upstashops.Option{
		upstashops.WithRedis(rdb),
		upstashops.WithQStash(qstashToken),
		upstashops.WithQStashURL(qstashURL),
		upstashops.WithRateLimitReview(review, limiter),
		upstashops.WithNotifier(notifier, upstashops.MinSeverity(upstashops.Warning)),
		upstashops.WithPolicy(upstashops.ObserveOnly.
			With(upstashops.ActionRateLimitChange, upstashops.RequireApproval).
			With(upstashops.ActionDeleteSchedule, upstashops.RequireApproval)),
		upstashops.WithDashboardToken(token),
		upstashops.WithBaseURL("http://" + *addr + "/debug/upstashops"),
		upstashops.WithLogger(logger),
	}
	if embedded {
		// miniredis does not implement INFO, so correlation samples the
		// app's own request counter instead of the Redis INFO collector.
		job, err := requestsCorrelation(app)
		if err != nil {
			return err
		}
		opts = append(opts, upstashops.WithJob(job))
	}
	op, err := upstashops.New(opts...)
	if err != nil {
		return err
	}
	app.review = op.RateLimitReview()
	defer op.Close(context.WithoutCancel(ctx))

	app.wasteCommands(ctx)
	app.burst(ctx, "client-42", 150)

	if *once {
		return runOnce(ctx, op, stdout)
	}
	var printed string
	if generated {
		printed = token
	}
	return serve(ctx, *addr, app, op, stdout, printed)
}

// runOnce runs each job, waits for the notifications, and prints the
// findings.
func runOnce(ctx context.Context, op *upstashops.Operator, stdout io.Writer) error {
	for _, name := range op.Jobs() {
		if _, err := op.RunOnce(ctx, name); err != nil {
			fmt.Fprintf(stdout, "job %s: %v\n", name, err)
		}
	}
	if err := op.Flush(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stdout, op.Narrative(ctx, op.Findings()))
	for _, f := range op.Findings() {
		fmt.Fprintf(stdout, "%-8s %-28s %s\n", f.Severity, f.Kind, f.Summary)
	}
	pending, err := op.Approvals(ctx)
	if err != nil {
		return err
	}
	for _, p := range pending {
		fmt.Fprintf(stdout, "pending approval: %s\n", p.Action.Description)
	}
	return nil
}

// serve runs the jobs and serves the API and the dashboard until ctx ends.
// A non-empty token is the generated dashboard token, printed next to the
// login URL because the user has no other way to learn it.
func serve(ctx context.Context, addr string, a *app, op *upstashops.Operator, stdout io.Writer, token string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/items/{id}", a.getItem)
	mux.Handle("/debug/upstashops/", op.Handler())
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	go op.Run(ctx)
	fmt.Fprintf(stdout, "serving on http://%s (dashboard at /debug/upstashops/)\n", ln.Addr())
	if token != "" {
		fmt.Fprintf(stdout, "dashboard login: http://%s/debug/upstashops/login (token %s, set DASHBOARD_TOKEN to choose it)\n", ln.Addr(), token)
	}
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// app is the example service: items in Redis behind a rate limit.
type app struct {
	rdb      redis.UniversalClient
	review   *upstashops.RateLimitReview
	requests atomic.Int64
}

// requestsCorrelation returns a CorrelationJob that samples the app's
// request count.
func requestsCorrelation(a *app) (upstashops.Job, error) {
	det, err := correlate.NewDetector()
	if err != nil {
		return nil, err
	}
	cor, err := correlate.NewCorrelator()
	if err != nil {
		return nil, err
	}
	requests := correlate.CollectorFunc(func(ctx context.Context) ([]correlate.Sample, error) {
		return []correlate.Sample{{Series: "app.requests", Time: time.Now(), Value: float64(a.requests.Load())}}, nil
	})
	return upstashops.NewCorrelationJob(det, cor, requests), nil
}

func (a *app) getItem(w http.ResponseWriter, r *http.Request) {
	a.requests.Add(1)
	client := r.Header.Get("X-Client-ID")
	if client == "" {
		client = "anonymous"
	}
	res, err := a.review.AllowN(r.Context(), client, 1)
	if err != nil {
		http.Error(w, "request cancelled", http.StatusServiceUnavailable)
		return
	}
	if !res.Allowed {
		w.Header().Set("Retry-After", fmt.Sprint(int(res.RetryAfter.Seconds())+1))
		http.Error(w, "rate limit exceeded", http.StatusTooManyRequests)
		return
	}
	v, err := a.rdb.Get(r.Context(), "item:"+r.PathValue("id")).Result()
	if errors.Is(err, redis.Nil) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, "storage unavailable", http.StatusBadGateway)
		return
	}
	io.WriteString(w, v)
}

// wasteCommands runs the patterns the cost job prices: sessions written
// without a TTL, KEYS scans and one GET per item where one MGET would do.
func (a *app) wasteCommands(ctx context.Context) {
	for i := range 200 {
		a.rdb.Set(ctx, fmt.Sprintf("session:%d", i), "user", 0)
		a.rdb.Set(ctx, fmt.Sprintf("item:%d", i), "item", time.Hour)
	}
	for range 20 {
		a.rdb.Keys(ctx, "session:*")
		for i := range 30 {
			a.rdb.Get(ctx, fmt.Sprintf("item:%d", i))
		}
	}
}

// burst sends n requests for one client through the reviewed limiter, so
// that the rate-limit review has a saturated key to report.
func (a *app) burst(ctx context.Context, client string, n int) {
	for range n {
		_, _ = a.review.AllowN(ctx, client, 1)
	}
}

func openRedis(url string) (redis.UniversalClient, func(), error) {
	if url != "" {
		opts, err := redis.ParseURL(url)
		if err != nil {
			return nil, nil, errors.New("invalid REDIS_URL") // the URL may carry a password
		}
		rdb := redis.NewClient(opts)
		return rdb, func() { rdb.Close() }, nil
	}
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		return nil, nil, fmt.Errorf("start in-process Redis: %w", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), DisableIdentity: true})
	return rdb, func() { rdb.Close(); mr.Close() }, nil
}

// openQStash returns the QStash to use: the one in the environment, or the
// in-process emulator serving Workflow logs of a workflow that fails with
// 401 on every run, and a schedule whose endpoint answers 404.
func openQStash(url, token string) (string, string, func()) {
	if url != "" && token != "" {
		return url, token, func() {}
	}
	emu := qstashemu.Start()
	now := time.Now()
	var runs []string
	for i := range 3 {
		ms := now.Add(time.Duration(i-10) * time.Minute).UnixMilli()
		runs = append(runs, fmt.Sprintf(`{"workflowRunId":"wfr_report_%d","workflowUrl":"http://127.0.0.1:8080/api/report","workflowState":"RUN_FAILED","workflowRunCreatedAt":%d,"workflowRunCompletedAt":%d,"steps":[{"type":"next","steps":[{"messageId":"m%d","state":"STEP_FAILED","errors":[{"error":"unauthorized: invalid API key","status":401,"headers":{},"time":%d}]}]}]}`, i, ms, ms+300, i, ms+200))
	}
	page := `{"cursor":"","runs":[` + strings.Join(runs, ",") + `]}`

	// A schedule whose endpoint has answered 404 to every trigger for a day.
	id, err := emu.AddSchedule(qstashemu.Schedule{CreatedAt: now.Add(-72 * time.Hour), Cron: "0 * * * *", Destination: "http://127.0.0.1:8080/api/old-report", Method: "POST", Retries: 3})
	if err == nil {
		gone := qstashemu.Fail(404, "not found")
		for at := now.Add(-24 * time.Hour); at.Before(now); at = at.Add(time.Hour) {
			_, _ = emu.Trigger(id, at, gone, gone, gone, gone)
		}
	}
	emu.HandleFunc("GET /v2/workflows/logs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, page)
	})
	return emu.URL(), emu.Token(), emu.Close
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
