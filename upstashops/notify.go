package upstashops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
)

// EventType says what a notification is about.
type EventType string

// The notification events.
const (
	// EventAlert reports a finding, sent as it is found.
	EventAlert EventType = "alert"
	// EventResolved reports that an alerted finding is gone; it is sent
	// once, to the channels that received the alert.
	EventResolved EventType = "resolved"
	// EventDigest groups every open finding, sent on the digest interval.
	EventDigest EventType = "digest"
	// EventApprovalRequest asks a person to approve or reject an action.
	EventApprovalRequest EventType = "approval_request"
)

// Notification is what a Notifier delivers. Finding is set for alerts and
// resolutions, Findings and Narrative for digests, Approval for approval
// requests.
type Notification struct {
	Event        EventType        `json:"event"`
	Time         time.Time        `json:"time"`
	Finding      *Finding         `json:"finding,omitempty"`
	Findings     []Finding        `json:"findings,omitempty"`
	Narrative    string           `json:"narrative,omitempty"`
	Approval     *PendingApproval `json:"approval,omitempty"`
	DashboardURL string           `json:"dashboard_url,omitempty"`
}

// Severity returns the severity of the finding or of the most severe
// finding in a digest; approval requests count as warnings.
func (n Notification) Severity() Severity {
	switch {
	case n.Finding != nil:
		return n.Finding.Severity
	case n.Approval != nil:
		return max(n.Approval.Severity, Warning)
	}
	s := Info
	for _, f := range n.Findings {
		s = max(s, f.Severity)
	}
	return s
}

// Title returns a one-line summary of the notification.
func (n Notification) Title() string {
	switch n.Event {
	case EventAlert:
		return fmt.Sprintf("[%s] %s", n.Finding.Severity, n.Finding.Summary)
	case EventResolved:
		return "[resolved] " + n.Finding.Summary
	case EventApprovalRequest:
		return fmt.Sprintf("[approval needed] %s %s", n.Approval.Action.Class, n.Approval.Action.Target)
	case EventDigest:
		return fmt.Sprintf("[digest] %d open findings", len(n.Findings))
	}
	return string(n.Event)
}

// Notifier delivers notifications to one channel. Notify must honour ctx;
// an error makes the Operator retry with backoff. Implementations must not
// put secrets such as webhook URLs in their errors.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, n Notification) error

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, n Notification) error { return f(ctx, n) }

// Route is a set of roles a channel plays in routing by severity: info
// findings go to the digest, warnings to chat, critical findings to the
// pager and to chat.
type Route uint8

// The routes; combine them with |.
const (
	RouteDigest Route = 1 << iota
	RouteChat
	RoutePage
)

// routed is implemented by built-in notifiers to give their default route.
type routed interface{ defaultRoute() Route }

// ChannelOption changes how notifications are routed to one notifier.
type ChannelOption func(*channelEntry)

type channelEntry struct {
	n     Notifier
	name  string
	route Route
	min   Severity
}

// MinSeverity sends the channel only notifications of at least s.
func MinSeverity(s Severity) ChannelOption { return func(e *channelEntry) { e.min = s } }

// Routes sets the roles of the channel, replacing the notifier's default:
// RouteChat for Slack, RoutePage for PagerDuty, RouteDigest for email, and
// all three for webhooks, slog and custom notifiers.
func Routes(r Route) ChannelOption { return func(e *channelEntry) { e.route = r } }

// Named sets the channel's name in logs, the dashboard and delivery
// failures. The default is the notifier's String, or "channel-N".
func Named(name string) ChannelOption { return func(e *channelEntry) { e.name = name } }

// WithNotifier adds a notification channel.
func WithNotifier(n Notifier, opts ...ChannelOption) Option {
	return optionFunc(func(c *config) {
		e := channelEntry{n: n, route: RouteDigest | RouteChat | RoutePage}
		if r, ok := n.(routed); ok {
			e.route = r.defaultRoute()
		}
		if s, ok := n.(fmt.Stringer); ok {
			e.name = s.String()
		}
		for _, o := range opts {
			o(&e)
		}
		if e.name == "" {
			e.name = fmt.Sprintf("channel-%d", len(c.channels)+1)
		}
		c.channels = append(c.channels, e)
	})
}

// DeliveryFailure reports a notification that a channel did not deliver.
type DeliveryFailure struct {
	Channel      string
	Notification Notification
	// Err is the last error; it names no secret.
	Err error
	// Dropped is true when the notification was dropped from a full queue
	// rather than failing every retry.
	Dropped bool
}

// ChannelStatus is the health of one notification channel.
type ChannelStatus struct {
	Name        string    `json:"name"`
	Sent        int       `json:"sent"`
	Failed      int       `json:"failed"`
	Dropped     int       `json:"dropped"`
	Queued      int       `json:"queued"`
	LastError   string    `json:"last_error,omitempty"`
	LastFailure time.Time `json:"last_failure,omitzero"`
}

type delivery struct {
	n        Notification
	fallback bool // a critical notification re-routed after another channel failed
}

type channel struct {
	channelEntry
	wake chan struct{}

	mu     sync.Mutex
	queue  []*delivery
	status ChannelStatus
}

type sentKey struct {
	channel int
	finding string
}

type sentInfo struct {
	at       time.Time
	severity Severity
}

// maxUndelivered bounds the list of critical notifications no channel
// delivered; the oldest entry is dropped beyond it.
const maxUndelivered = 100

// dispatcher routes notifications to channels through one bounded queue and
// one sending goroutine per channel, so that a slow or failing channel
// never blocks a job or another channel.
type dispatcher struct {
	op       *Operator
	clk      clock.Clock
	channels []*channel
	start    sync.Once

	mu          sync.Mutex
	sent        map[sentKey]sentInfo // bounded: entries older than the cooldown are swept once it exceeds maxSent
	alerted     map[string][]int     // finding ID -> channels that got its alert; bounded by open findings
	inflight    int
	idle        []chan struct{}
	undelivered []Notification

	// shared, set with Redis, keeps cooldowns and alerted channels for
	// every instance sharing it.
	shared *sharedDelivery
}

func newDispatcher(op *Operator, cfg config) *dispatcher {
	d := &dispatcher{op: op, clk: clock.Or(cfg.clk), sent: map[sentKey]sentInfo{}, alerted: map[string][]int{}}
	if cfg.rdb != nil {
		d.shared = &sharedDelivery{rdb: cfg.rdb, keys: keys{prefix: cfg.keyPrefix}, cooldown: cfg.cooldown}
	}
	names := map[string]int{}
	for _, e := range cfg.channels {
		// Channel names identify channels in the shared state: make them unique.
		if names[e.name]++; names[e.name] > 1 {
			e.name = fmt.Sprintf("%s-%d", e.name, names[e.name])
		}
		c := &channel{channelEntry: e, wake: make(chan struct{}, 1)}
		c.status.Name = e.name
		d.channels = append(d.channels, c)
	}
	return d
}

func (d *dispatcher) maxSent() int { return 4 * d.op.cfg.maxFindings * max(1, len(d.channels)) }

// alert sends f to the channels its severity routes to, unless the channel
// got it within the cooldown at the same or a higher severity.
func (d *dispatcher) alert(ctx context.Context, f Finding) {
	if f.Severity == Info {
		return // info findings wait for the digest
	}
	now := d.clk.Now()
	n := Notification{Event: EventAlert, Time: now, Finding: &f, DashboardURL: d.op.cfg.baseURL}
	for i, c := range d.channels {
		if !c.wants(f.Severity) {
			continue
		}
		if d.shared != nil {
			ok, err := d.shared.claim(ctx, c.name, f, now)
			if err != nil {
				// Without the shared record, sending twice beats not sending.
				d.op.log.LogAttrs(ctx, slog.LevelWarn, "upstashops: shared cooldown unavailable, sending anyway", slog.String("finding", f.ID), slog.String("error", err.Error()))
			} else if !ok {
				continue
			}
		}
		d.mu.Lock()
		k := sentKey{i, f.ID}
		if last, ok := d.sent[k]; d.shared == nil && ok && now.Sub(last.at) < d.op.cfg.cooldown && f.Severity <= last.severity {
			d.mu.Unlock()
			continue
		}
		d.sent[k] = sentInfo{at: now, severity: f.Severity}
		if !slices.Contains(d.alerted[f.ID], i) {
			d.alerted[f.ID] = append(d.alerted[f.ID], i)
		}
		d.enqueueLocked(c, &delivery{n: n})
		d.sweepLocked(now)
		d.mu.Unlock()
	}
}

func (c *channel) wants(s Severity) bool {
	if s < c.min {
		return false
	}
	switch s {
	case Critical:
		return c.route&(RoutePage|RouteChat) != 0
	case Warning:
		return c.route&RouteChat != 0
	}
	return false
}

// resolve sends one resolution to every channel that got f's alert, from
// this instance or, with Redis, from any instance.
func (d *dispatcher) resolve(ctx context.Context, f Finding) {
	n := Notification{Event: EventResolved, Time: d.clk.Now(), Finding: &f, DashboardURL: d.op.cfg.baseURL}
	var targets []int
	if d.shared != nil {
		names, err := d.shared.takeAlerted(ctx, f.ID)
		if err != nil {
			d.op.log.LogAttrs(ctx, slog.LevelWarn, "upstashops: shared alert record unavailable, resolving from local state", slog.String("finding", f.ID), slog.String("error", err.Error()))
		}
		for i, c := range d.channels {
			if slices.Contains(names, c.name) {
				targets = append(targets, i)
			}
		}
		if err != nil {
			targets = nil
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shared == nil || targets == nil {
		targets = append(targets, d.alerted[f.ID]...)
	}
	for _, i := range targets {
		d.enqueueLocked(d.channels[i], &delivery{n: n})
		delete(d.sent, sentKey{i, f.ID})
	}
	delete(d.alerted, f.ID)
}

// forget drops the delivery state of a finding evicted without being
// resolved, so that alerted stays bounded by the open findings.
func (d *dispatcher) forget(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, i := range d.alerted[id] {
		delete(d.sent, sentKey{i, id})
	}
	delete(d.alerted, id)
}

// approvalRequest sends p to the chat channels, or to every channel when
// none is a chat channel.
func (d *dispatcher) approvalRequest(p PendingApproval) {
	n := Notification{Event: EventApprovalRequest, Time: d.clk.Now(), Approval: &p, DashboardURL: d.op.cfg.baseURL}
	d.mu.Lock()
	defer d.mu.Unlock()
	targets := 0
	for _, c := range d.channels {
		if c.route&RouteChat != 0 {
			d.enqueueLocked(c, &delivery{n: n})
			targets++
		}
	}
	if targets == 0 {
		for _, c := range d.channels {
			d.enqueueLocked(c, &delivery{n: n})
			targets++
		}
	}
	if targets == 0 {
		d.op.log.Warn("upstashops: approval requested but no notification channel is configured; it is visible on the dashboard", "action", p.Action.ID)
	}
}

// digest sends the open findings to the digest channels.
func (d *dispatcher) digest(findings []Finding, narrative string) {
	now := d.clk.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.channels {
		if c.route&RouteDigest == 0 {
			continue
		}
		var fs []Finding
		for _, f := range findings {
			if f.Severity >= c.min {
				fs = append(fs, f)
			}
		}
		if len(fs) == 0 {
			continue
		}
		d.enqueueLocked(c, &delivery{n: Notification{Event: EventDigest, Time: now, Findings: fs, Narrative: narrative, DashboardURL: d.op.cfg.baseURL}})
	}
}

func (d *dispatcher) sweepLocked(now time.Time) {
	if len(d.sent) <= d.maxSent() {
		return
	}
	for k, v := range d.sent {
		if now.Sub(v.at) >= d.op.cfg.cooldown {
			delete(d.sent, k)
		}
	}
	for k := range d.sent { // still over: forget arbitrary entries
		if len(d.sent) <= d.maxSent() {
			break
		}
		delete(d.sent, k)
	}
}

// enqueueLocked adds dl to c's queue. A full queue drops the new
// notification unless it is critical, in which case the oldest
// non-critical one makes room; a queue full of critical notifications
// drops the oldest, which is reported like a failed delivery.
func (d *dispatcher) enqueueLocked(c *channel, dl *delivery) {
	d.start.Do(d.startWorkers)
	c.mu.Lock()
	var dropped *delivery
	if len(c.queue) >= d.op.cfg.queueSize {
		victim := -1
		if dl.n.Severity() == Critical {
			for i, q := range c.queue {
				if q.n.Severity() != Critical {
					victim = i
					break
				}
			}
			if victim < 0 {
				victim = 0
			}
		}
		if victim < 0 {
			dropped = dl
		} else {
			dropped = c.queue[victim]
			c.queue = slices.Delete(c.queue, victim, victim+1)
			c.queue = append(c.queue, dl)
			d.inflight++
			d.inflight-- // one in, one out
		}
		c.status.Dropped++
	} else {
		c.queue = append(c.queue, dl)
		d.inflight++
	}
	c.status.Queued = len(c.queue)
	c.mu.Unlock()
	if dropped != nil {
		err := fmt.Errorf("upstashops: notification queue of channel %s is full (%d)", c.name, d.op.cfg.queueSize)
		d.failedLocked(c, dropped, err, true)
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) startWorkers() {
	for i, c := range d.channels {
		go d.work(i, c)
	}
}

// work delivers c's queue in order until the Operator is closed.
func (d *dispatcher) work(i int, c *channel) {
	ctx := d.op.bg
	for {
		c.mu.Lock()
		var dl *delivery
		if len(c.queue) > 0 {
			dl = c.queue[0]
			c.queue = c.queue[1:]
			c.status.Queued = len(c.queue)
		}
		c.mu.Unlock()
		if dl == nil {
			select {
			case <-c.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		err := d.deliver(ctx, c, dl)
		d.mu.Lock()
		if err != nil {
			d.failedLocked(c, dl, err, false)
		} else {
			c.mu.Lock()
			c.status.Sent++
			c.mu.Unlock()
		}
		d.doneLocked()
		d.mu.Unlock()
	}
}

// deliver tries dl on c up to maxAttempts times with doubling backoff.
func (d *dispatcher) deliver(ctx context.Context, c *channel, dl *delivery) error {
	backoff := d.op.cfg.retryBackoff
	var err error
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = safeNotify(actx, c.n, dl.n)
		cancel()
		if err == nil {
			return nil
		}
		err = redactError(err)
		d.op.log.LogAttrs(ctx, slog.LevelWarn, "upstashops: notification failed", slog.String("channel", c.name), slog.String("event", string(dl.n.Event)), slog.Int("attempt", attempt), slog.String("error", err.Error()))
		if attempt >= d.op.cfg.maxAttempts {
			return err
		}
		if clock.Sleep(ctx, d.clk, backoff) != nil {
			return errors.Join(err, ctx.Err())
		}
		backoff = min(2*backoff, time.Minute)
	}
}

func safeNotify(ctx context.Context, n Notifier, msg Notification) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("upstashops: notifier panicked: %v", r)
		}
	}()
	return n.Notify(ctx, msg)
}

// failedLocked reports a notification c did not deliver. A critical one is
// handed to every other channel that takes critical notifications, and is
// kept in the undelivered list when no other channel exists.
func (d *dispatcher) failedLocked(c *channel, dl *delivery, err error, dropped bool) {
	c.mu.Lock()
	if !dropped {
		c.status.Failed++
	}
	c.status.LastError = err.Error()
	c.status.LastFailure = d.clk.Now()
	c.mu.Unlock()

	critical := dl.n.Severity() == Critical
	level := slog.LevelWarn
	if critical {
		level = slog.LevelError
	}
	d.op.log.LogAttrs(d.op.bg, level, "upstashops: notification not delivered", slog.String("channel", c.name), slog.String("event", string(dl.n.Event)), slog.String("title", dl.n.Title()), slog.Bool("dropped", dropped), slog.String("error", err.Error()))
	if fn := d.op.cfg.onFailure; fn != nil {
		fn(DeliveryFailure{Channel: c.name, Notification: dl.n, Err: err, Dropped: dropped})
	}
	if !critical {
		return
	}
	go d.op.record(d.op.bg, AuditEntry{Event: AuditDeliveryFailed, FindingID: findingIDOf(dl.n), Actor: "operator", Detail: fmt.Sprintf("channel %s: %v", c.name, err)})
	rerouted := 0
	if !dl.fallback {
		got := d.alerted[findingIDOf(dl.n)]
		for j, other := range d.channels {
			if other != c && other.route&(RoutePage|RouteChat) != 0 && (dl.n.Event != EventAlert || !slices.Contains(got, j)) {
				d.enqueueLocked(other, &delivery{n: dl.n, fallback: true})
				rerouted++
			}
		}
	}
	if rerouted == 0 {
		d.undelivered = append(d.undelivered, dl.n)
		if len(d.undelivered) > maxUndelivered {
			d.undelivered = d.undelivered[1:]
		}
	}
}

func findingIDOf(n Notification) string {
	if n.Finding != nil {
		return n.Finding.ID
	}
	if n.Approval != nil {
		return n.Approval.Action.FindingID
	}
	return ""
}

func (d *dispatcher) doneLocked() {
	d.inflight--
	if d.inflight == 0 {
		for _, ch := range d.idle {
			close(ch)
		}
		d.idle = nil
	}
}

// flush waits until no notification is queued or being sent.
func (d *dispatcher) flush(ctx context.Context) error {
	d.mu.Lock()
	if d.inflight == 0 {
		d.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	d.idle = append(d.idle, ch)
	d.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("upstashops: flush notifications: %w", ctx.Err())
	}
}

// Channels returns the health of every notification channel.
func (op *Operator) Channels() []ChannelStatus {
	out := make([]ChannelStatus, 0, len(op.notify.channels))
	for _, c := range op.notify.channels {
		c.mu.Lock()
		out = append(out, c.status)
		c.mu.Unlock()
	}
	return out
}

// Undelivered returns the critical notifications that no channel
// delivered, oldest first; at most the last 100 are kept.
func (op *Operator) Undelivered() []Notification {
	op.notify.mu.Lock()
	defer op.notify.mu.Unlock()
	return slices.Clone(op.notify.undelivered)
}

// SendDigest sends the open findings, with a narrative, to the digest
// channels. Run calls it on the digest interval.
func (op *Operator) SendDigest(ctx context.Context) {
	fs := op.sharedFindings(ctx)
	if len(fs) == 0 {
		return
	}
	op.notify.digest(fs, op.Narrative(ctx, fs))
}
