package heal

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// HTTPChecker is the default DependencyChecker: it GETs a health URL and
// calls the dependency healthy unless the request fails or the status is
// 5xx or 429. The zero value uses http.DefaultClient and the root of each
// dependency's origin.
type HTTPChecker struct {
	// Client sends the probes; nil means http.DefaultClient.
	Client *http.Client
	// HealthURLs maps a dependency origin ("https://api.vendor.com") to
	// its health URL. An origin without an entry is probed at its root.
	HealthURLs map[string]string
	// Timeout bounds each probe when ctx has no earlier deadline; zero
	// means 10s.
	Timeout time.Duration
}

// Check probes dependency once.
func (c *HTTPChecker) Check(ctx context.Context, dependency string) error {
	target := c.HealthURLs[dependency]
	if target == "" {
		target = strings.TrimSuffix(dependency, "/") + "/"
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("heal: invalid health URL %s for dependency %s: %w", redactURL(target), dependency, err)
	}
	client := c.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("heal: probe of dependency %s failed: %w", dependency, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBodyExcerpt))
	resp.Body.Close()
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return fmt.Errorf("heal: dependency %s is unhealthy: GET %s returned %d",
			dependency, redactURL(target), resp.StatusCode)
	}
	return nil
}

// ProbeResult is the outcome of one dependency probe.
type ProbeResult struct {
	Dependency string
	Healthy    bool
	// Consecutive is the number of healthy probes in a row so far.
	Consecutive int
	// Error is the checker's error text of an unhealthy probe.
	Error string
	// Resumed lists the targets whose resume this probe triggered.
	Resumed []string
	// Next is when the dependency is probed again; zero after a resume.
	Next time.Time
}

// dependencyWatch is the probe state of one dependency that targets wait
// for.
type dependencyWatch struct {
	targets map[string]bool
	healthy int
	wait    time.Duration
	next    time.Time
}

// originOf returns scheme://host of the failed URL, or of target when the
// failed URL has no host.
func originOf(failed, target string) string {
	for _, raw := range []string{failed, target} {
		u, err := url.Parse(raw)
		if err == nil && u.Scheme != "" && u.Host != "" {
			return strings.ToLower(u.Scheme + "://" + u.Host)
		}
	}
	return target
}

// canWatch reports whether a new target can wait for origin: within the
// bounds of the dependency watch and the set of paused targets, and with
// a checker that can probe origin. m.mu is held.
func (m *Monitor) canWatch(origin string) bool {
	if len(m.paused) >= maxPausedTargets {
		return false
	}
	if _, isHTTP := m.cfg.checker.(*HTTPChecker); isHTTP &&
		!strings.HasPrefix(origin, "http://") && !strings.HasPrefix(origin, "https://") {
		// The HTTP checker cannot probe a job name, so a pause would never end.
		return false
	}
	_, known := m.deps[origin]
	return known || len(m.deps) < maxDependencies
}

// watch makes target wait for origin, and restarts the count of healthy
// probes, since a new failure shows the dependency is not back. m.mu is
// held.
func (m *Monitor) watch(origin, target string) {
	w := m.deps[origin]
	if w == nil {
		if len(m.deps) >= maxDependencies {
			m.cfg.logger.Warn("heal: dependency watch is full, not probing",
				slog.String("dependency", origin), slog.Int("max", maxDependencies))
			return
		}
		w = &dependencyWatch{targets: map[string]bool{}, wait: m.cfg.probeBase}
		m.deps[origin] = w
	}
	w.targets[target] = true
	w.healthy = 0
	w.wait = m.cfg.probeBase
	w.next = m.cfg.clock.Now().Add(w.wait)
}

// unwatch stops target from waiting for origin, and forgets origin when
// nothing waits for it any more. m.mu is held.
func (m *Monitor) unwatch(origin, target string) {
	w := m.deps[origin]
	if w == nil {
		return
	}
	delete(w.targets, target)
	if len(w.targets) == 0 {
		delete(m.deps, origin)
	}
}

// Probe runs, in a pass of its own, the dependency probes that are due on
// the Monitor's clock. After WithHealthyProbes consecutive healthy probes
// it resumes every target that waits for the dependency. An unhealthy
// probe restarts the count and doubles the wait before the next probe, up
// to the maximum of WithProbeBackoff.
func (m *Monitor) Probe(ctx context.Context) Report {
	ctx, span := m.tracer.Start(ctx, "heal.Probe")
	defer span.End()
	m.mu.Lock()
	m.passCount = 0
	m.mu.Unlock()
	probes, actions := m.probe(ctx)
	return Report{Probes: probes, Actions: actions}
}

// probe runs the due probes without starting a new pass.
func (m *Monitor) probe(ctx context.Context) ([]ProbeResult, []AuditRecord) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.cfg.clock.Now()
	origins := make([]string, 0, len(m.deps))
	for origin := range m.deps {
		origins = append(origins, origin)
	}
	slices.Sort(origins)

	var results []ProbeResult
	var actions []AuditRecord
	for _, origin := range origins {
		w := m.deps[origin]
		if now.Before(w.next) {
			continue
		}
		res := ProbeResult{Dependency: origin}
		if err := m.cfg.checker.Check(ctx, origin); err != nil {
			w.healthy = 0
			w.wait = min(w.wait*2, m.cfg.probeMax)
			res.Error = clip(err.Error(), 300)
			m.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "heal: dependency unhealthy",
				slog.String("dependency", origin), slog.String("error", res.Error), slog.Duration("next_probe", w.wait))
		} else {
			w.healthy++
			w.wait = m.cfg.probeBase
			res.Healthy = true
		}
		res.Consecutive = w.healthy
		w.next = now.Add(w.wait)
		res.Next = w.next

		if w.healthy >= m.cfg.healthyProbes {
			res.Resumed, actions = m.resume(ctx, origin, w, actions)
			if len(w.targets) == 0 {
				delete(m.deps, origin)
				res.Next = time.Time{}
			}
		}
		results = append(results, res)
	}
	return results, actions
}

// resume resumes the targets that wait for origin and forgets those it
// resumed. A target whose resume did not happen stays in the watch and is
// tried again after the next healthy probe.
func (m *Monitor) resume(ctx context.Context, origin string, w *dependencyWatch, actions []AuditRecord) ([]string, []AuditRecord) {
	targets := make([]string, 0, len(w.targets))
	for t := range w.targets {
		targets = append(targets, t)
	}
	slices.Sort(targets)
	var resumed []string
	for _, target := range targets {
		a := Action{
			Kind: ActionResume, Target: target, Dependency: origin, Class: Dependency,
			Reason: fmt.Sprintf("dependency %s passed %d health probes in a row", origin, w.healthy),
		}
		rec := m.run(ctx, a, m.cfg.pauser != nil, func() error { return m.cfg.pauser.Resume(ctx, target) })
		actions = append(actions, rec)
		if rec.Outcome == OutcomeDone || rec.Outcome == OutcomeDryRun {
			delete(w.targets, target)
			delete(m.paused, target)
			// The failures before the resume are history: the target pauses
			// again when a new pattern shows the dependency down again.
			m.window.forgetTarget(redactURL(target))
			resumed = append(resumed, target)
		}
	}
	return resumed, actions
}
