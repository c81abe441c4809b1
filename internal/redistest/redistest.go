// Package redistest starts real redis-server processes on loopback ports for
// tests.
//
// Each server runs in its own temporary directory with persistence off and
// listens only on 127.0.0.1. Start ties the process to a test and stops it in
// t.Cleanup; StartProcess returns a server that the caller stops with Close,
// which suits a TestMain that shares one server across a package.
// StartCluster and StartClusterProcess start a Redis Cluster of such
// servers, each serving a fixed range of the hash slots.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Binary is the redis-server executable that servers are started from. It is
// looked up in PATH unless REDIS_SERVER names a path.
var Binary = "redis-server"

// ErrNotInstalled reports that no redis-server executable was found.
var ErrNotInstalled = errors.New("redistest: redis-server not found in PATH: install it (apt-get install -y redis-server) or run bash .ci/run, which installs it")

const (
	startTimeout = 10 * time.Second
	startTries   = 3
)

// Server is a running redis-server process. Its methods are safe for
// concurrent use.
type Server struct {
	addr    string
	busPort int // cluster bus port; 0 unless the server is a cluster node
	dir     string
	cmd     *exec.Cmd

	closeOnce sync.Once
	exited    chan struct{}
	waitErr   error
	stderr    *tailBuffer
}

type config struct {
	args []string
	// cluster starts the server as a Redis Cluster node with its own bus
	// port and cluster config file.
	cluster bool
}

// Option changes how a server is started.
type Option func(*config)

// WithConfig passes extra configuration directives to redis-server, as
// name/value pairs on its command line, for example
// WithConfig("maxmemory", "1mb", "maxmemory-policy", "allkeys-lru").
func WithConfig(nameValues ...string) Option {
	return func(c *config) {
		for i := 0; i+1 < len(nameValues); i += 2 {
			c.args = append(c.args, "--"+nameValues[i], nameValues[i+1])
		}
	}
}

// Start starts a redis-server for tb and stops it when tb ends. It fails tb
// with a clear message when redis-server is not installed or does not start.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s, err := StartProcess(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// StartProcess starts a redis-server that runs until Close. The port is chosen
// from the free loopback ports; a start that loses the port to another process
// is tried again, up to three times.
func StartProcess(opts ...Option) (*Server, error) {
	bin := Binary
	if env := os.Getenv("REDIS_SERVER"); env != "" {
		bin = env
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, ErrNotInstalled
	}
	var cfg config
	for _, opt := range opts {
		opt(&cfg)
	}
	var lastErr error
	for range startTries {
		s, err := start(path, cfg)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func start(path string, cfg config) (*Server, error) {
	portCount := 1
	if cfg.cluster {
		portCount = 2
	}
	ports, err := freePorts(portCount)
	if err != nil {
		return nil, err
	}
	port, busPort := ports[0], 0
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, fmt.Errorf("redistest: create data directory: %w", err)
	}
	args := []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--dir", dir,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--loglevel", "warning",
	}
	if cfg.cluster {
		// An explicit bus port, because the default (port+10000) can be
		// taken or above 65535. The config file name is relative to dir.
		busPort = ports[1]
		args = append(args,
			"--cluster-enabled", "yes",
			"--cluster-port", strconv.Itoa(busPort),
			"--cluster-config-file", "nodes.conf",
		)
	}
	args = append(args, cfg.args...)
	s := &Server{
		addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		busPort: busPort,
		dir:     dir,
		cmd:     exec.Command(path, args...),
		exited:  make(chan struct{}),
		stderr:  &tailBuffer{max: 4096},
	}
	s.cmd.Stdout = s.stderr
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("redistest: start %s: %w", path, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// waitReady polls the port with PING until the server replies, exits, or
// startTimeout passes.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("redistest: redis-server on %s exited during start (%v): %s", s.addr, s.waitErr, s.stderr.String())
		default:
		}
		if pingOnce(s.addr) == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redistest: redis-server on %s did not reply to PING within %s: %s", s.addr, startTimeout, s.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pingOnce(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	// A server started with requirepass replies NOAUTH (Redis) or
	// "-AUTH ..." (older versions) before AUTH, which still means it is up.
	if strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH") || strings.HasPrefix(line, "-AUTH") {
		return nil
	}
	return fmt.Errorf("unexpected reply %q", line)
}

// freePorts returns n distinct free loopback ports. It holds every port
// open until all are chosen, so that the operating system cannot hand out
// one port twice.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("redistest: find a free loopback port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// RunMain starts one redis-server for a package's tests, stores it in
// *server, runs the tests, stops the server and exits with the tests' status.
// Call it from TestMain. It exits with status 1 when the server does not
// start, printing the reason.
func RunMain(m *testing.M, server **Server) {
	s, err := StartProcess()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*server = s
	code := m.Run()
	_ = s.Close()
	os.Exit(code)
}

// Addr returns the server's host:port on 127.0.0.1.
func (s *Server) Addr() string { return s.addr }

// URL returns a redis:// URL for the server.
func (s *Server) URL() string { return "redis://" + s.addr }

// Client returns a go-redis client for the server that tb closes when it
// ends. Options may change the client's settings; Addr is always the server's.
func (s *Server) Client(tb testing.TB, opts ...func(*redis.Options)) *redis.Client {
	tb.Helper()
	o := &redis.Options{Addr: s.addr, DisableIdentity: true}
	for _, opt := range opts {
		opt(o)
	}
	o.Addr = s.addr
	rdb := redis.NewClient(o)
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// FlushAll deletes every key and resets the server's statistics, so that
// tests sharing one server start from an empty keyspace and zero counters.
func (s *Server) FlushAll(ctx context.Context) error {
	rdb := redis.NewClient(&redis.Options{Addr: s.addr, DisableIdentity: true})
	defer rdb.Close()
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		return fmt.Errorf("redistest: FLUSHALL on %s: %w", s.addr, err)
	}
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		return fmt.Errorf("redistest: CONFIG RESETSTAT on %s: %w", s.addr, err)
	}
	return nil
}

// Close stops the server and removes its data directory. It is safe to call
// more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
		os.RemoveAll(s.dir)
	})
	return nil
}

// tailBuffer keeps the last max bytes written to it, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(string(b.buf))
}
