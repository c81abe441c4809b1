package upstashops

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/upstash-ops/sdk/internal/clock"
)

// Option configures an Operator. Applying an option cannot fail, and New
// validates the resulting configuration.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type jobEntry struct {
	job  Job
	opts []JobOption
}

type config struct {
	rdb       redis.UniversalClient
	keyPrefix string

	qstashToken string
	qstashURL   string
	mgmtEmail   string
	mgmtAPIKey  string
	mgmtURL     string

	mgmtDatabase     string
	minCostWindow    time.Duration
	minCostWindowSet bool

	jobs       []jobEntry
	jobOptions map[JobName][]JobOption
	leaseTTL   time.Duration

	channels       []channelEntry
	cooldown       time.Duration
	digestInterval time.Duration
	queueSize      int
	maxAttempts    int
	retryBackoff   time.Duration
	onFailure      func(DeliveryFailure)

	policy      Policy
	executors   map[ActionClass]Executor
	approver    Approver
	approvalKey []byte
	approvalTTL time.Duration
	auditMaxLen int64
	reasoner    Reasoner
	baseURL     string
	token       string
	middleware  func(http.Handler) http.Handler
	clk         clock.Clock
	logger      *slog.Logger
	meter       metric.MeterProvider
	tracer      trace.TracerProvider
	maxFindings int

	noDefaultJobs bool
}

// WithRedis sets the Redis client the Operator uses for job leases, pending
// approvals and the audit stream, and that the cost job instruments. Without
// it, leases are local to the process, the audit trail is kept in memory and
// approvals are unavailable.
func WithRedis(rdb redis.UniversalClient) Option {
	return optionFunc(func(c *config) { c.rdb = rdb })
}

// WithKeyPrefix sets the prefix of every Redis key the Operator writes. The
// default is "upstashops:".
func WithKeyPrefix(prefix string) Option {
	return optionFunc(func(c *config) { c.keyPrefix = prefix })
}

// WithQStash sets the QStash token the schedule and workflow jobs use. The
// token never appears in logs, errors, notifications or the dashboard.
func WithQStash(token string) Option {
	return optionFunc(func(c *config) { c.qstashToken = token })
}

// WithQStashURL sets the QStash API base URL. The default is
// https://qstash.upstash.io.
func WithQStashURL(url string) Option {
	return optionFunc(func(c *config) { c.qstashURL = url })
}

// WithManagementAPI sets the credentials of Upstash's developer API (the
// management API). With WithUpstashDatabase, each run of the built-in cost
// job reads that database's statistics through it (costlint's
// CollectUpstashStats), which feeds costlint's server-side rules; New
// rejects the credentials without a database ID. The API key never appears
// in logs, errors, notifications or the dashboard.
func WithManagementAPI(email, apiKey string) Option {
	return optionFunc(func(c *config) { c.mgmtEmail, c.mgmtAPIKey = email, apiKey })
}

// WithUpstashDatabase sets the ID of the Upstash Redis database whose
// statistics the cost job reads through the developer API.
func WithUpstashDatabase(id string) Option {
	return optionFunc(func(c *config) { c.mgmtDatabase = id })
}

// WithManagementAPIURL sets the base URL of Upstash's developer API. The
// default is https://api.upstash.com.
func WithManagementAPIURL(u string) Option {
	return optionFunc(func(c *config) { c.mgmtURL = u })
}

// WithMinCostWindow sets the shortest observation window the built-in
// cost job projects to a month (see CostMinWindow). The default is
// DefaultMinCostWindow.
func WithMinCostWindow(d time.Duration) Option {
	return optionFunc(func(c *config) { c.minCostWindow, c.minCostWindowSet = d, true })
}

// WithJob adds a job, or replaces a built-in job of the same name.
func WithJob(job Job, opts ...JobOption) Option {
	return optionFunc(func(c *config) { c.jobs = append(c.jobs, jobEntry{job: job, opts: opts}) })
}

// WithJobOptions changes the schedule of the job named name, built-in or
// added, for example WithJobOptions(CostJob, Every(6*time.Hour)).
func WithJobOptions(name JobName, opts ...JobOption) Option {
	return optionFunc(func(c *config) {
		if c.jobOptions == nil {
			c.jobOptions = map[JobName][]JobOption{}
		}
		c.jobOptions[name] = append(c.jobOptions[name], opts...)
	})
}

// WithLeaseTTL sets how long a job lease lives without renewal; a running
// job renews it every third of that. The default is 30 seconds.
func WithLeaseTTL(d time.Duration) Option {
	return optionFunc(func(c *config) { c.leaseTTL = d })
}

// WithCooldown sets how long the same finding is not sent again to the same
// channel unless its severity rises. The default is 6 hours.
func WithCooldown(d time.Duration) Option {
	return optionFunc(func(c *config) { c.cooldown = d })
}

// WithDigestInterval sets how often Run sends the digest of open findings.
// The default is 24 hours.
func WithDigestInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.digestInterval = d })
}

// WithDeliveryRetry sets how many times a notification is tried on one
// channel and the first backoff, which doubles after each failure up to a
// minute. The defaults are 5 attempts and 1 second.
func WithDeliveryRetry(attempts int, backoff time.Duration) Option {
	return optionFunc(func(c *config) { c.maxAttempts, c.retryBackoff = attempts, backoff })
}

// WithQueueSize sets how many notifications wait per channel. When a queue
// is full, a new non-critical notification is dropped and counted, and a
// critical one takes the place of the oldest non-critical one. The default
// is 256.
func WithQueueSize(n int) Option {
	return optionFunc(func(c *config) { c.queueSize = n })
}

// OnDeliveryFailure sets a function called when a notification could not be
// delivered to a channel after every retry, or was dropped from a full
// queue. It runs on the channel's sending goroutine and must not block.
func OnDeliveryFailure(fn func(DeliveryFailure)) Option {
	return optionFunc(func(c *config) { c.onFailure = fn })
}

// WithPolicy sets which actions the Operator may take. The default is
// ObserveOnly.
func WithPolicy(p Policy) Option {
	return optionFunc(func(c *config) { c.policy = p })
}

// WithExecutor sets what carries out actions of class. Leaf adapters
// register executors for their own classes; an action whose class has no
// executor is reported and never run.
func WithExecutor(class ActionClass, e Executor) Option {
	return optionFunc(func(c *config) {
		if c.executors == nil {
			c.executors = map[ActionClass]Executor{}
		}
		c.executors[class] = e
	})
}

// WithApprover sets who is asked to approve actions that need approval. The
// default sends signed one-time approve and reject links to the chat
// channels.
func WithApprover(a Approver) Option {
	return optionFunc(func(c *config) { c.approver = a })
}

// WithApprovalKey sets the HMAC key that signs approval links. Instances
// that share a Redis must share the key; the default is a random key per
// process, so links signed before a restart stop working.
func WithApprovalKey(key []byte) Option {
	return optionFunc(func(c *config) { c.approvalKey = append([]byte(nil), key...) })
}

// WithApprovalTTL sets how long a pending action waits for a decision
// before it expires. The default is 24 hours.
func WithApprovalTTL(d time.Duration) Option {
	return optionFunc(func(c *config) { c.approvalTTL = d })
}

// WithAuditMaxLen sets the approximate maximum number of entries in the
// audit stream; Redis trims the oldest beyond it. The default is 10000.
func WithAuditMaxLen(n int64) Option {
	return optionFunc(func(c *config) { c.auditMaxLen = n })
}

// WithReasoner sets what writes the narrative of digests and the dashboard.
// The default is a deterministic template.
func WithReasoner(r Reasoner) Option {
	return optionFunc(func(c *config) { c.reasoner = r })
}

// WithBaseURL sets the absolute URL at which Handler is mounted, such as
// "https://app.example.com/debug/upstashops", so that notifications can link
// to the dashboard and approval pages. Without it, links are relative.
func WithBaseURL(u string) Option {
	return optionFunc(func(c *config) { c.baseURL = u })
}

// WithDashboardToken protects Handler with a bearer token: requests carry it
// in an "Authorization: Bearer" header or in the cookie set by the login
// form. Signed approval links work without it.
func WithDashboardToken(token string) Option {
	return optionFunc(func(c *config) { c.token = token })
}

// WithDashboardMiddleware protects Handler with the application's own
// authentication. It wraps every route except signed approval links.
func WithDashboardMiddleware(mw func(http.Handler) http.Handler) Option {
	return optionFunc(func(c *config) { c.middleware = mw })
}

// WithClock sets the clock for cadences, timeouts, cooldowns and expiry. The
// default is the system clock.
func WithClock(c clock.Clock) Option {
	return optionFunc(func(cfg *config) { cfg.clk = c })
}

// WithLogger sets the logger. The default discards everything.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// WithMeterProvider sets the OpenTelemetry meter provider. The default is
// the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.meter = mp })
}

// WithTracerProvider sets the OpenTelemetry tracer provider. The default is
// the global provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) { c.tracer = tp })
}

// WithMaxFindings bounds how many open findings the Operator keeps; beyond
// it, the findings seen least recently are dropped. The default is 5000.
func WithMaxFindings(n int) Option {
	return optionFunc(func(c *config) { c.maxFindings = n })
}
