package costlint

import (
	"context"
	"errors"
	"net"

	"github.com/redis/go-redis/v9"
)

// hook records commands for a Linter. With dialOnly set it records only
// new connections, for the per-node clients of a ClusterClient or Ring
// whose commands the cluster-level hook already records.
type hook struct {
	l        *Linter
	dialOnly bool
}

var _ redis.Hook = (*hook)(nil)

func (h *hook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		h.l.rec.Load().recordDial(err)
		return conn, err
	}
}

func (h *hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	if h.dialOnly {
		return next
	}
	return func(ctx context.Context, cmd redis.Cmder) error {
		l := h.l
		if floors := *l.floors.Load(); len(floors) > 0 {
			l.applyFloor(floors, cmd)
		}
		pc, frame := l.sites.capture(1)
		if g := getg(); g != 0 {
			frame = g // the goroutine survives stack moves; its frame does not
		}
		ev := event{name: cmd.Name(), mode: Single, pc: pc, frame: frame, scope: scopeOf(ctx)}
		ev.info = lookupCommand(ev.name)
		// Only burst tracking without a scope and absolute TTLs need the
		// time, and reading the clock is a third of the hook's cost.
		if ev.info.ttl || ev.info.batch != "" && ev.scope == 0 {
			ev.at = l.clock.Now()
		}
		err := next(ctx, cmd)

		ev.args = cmd.Args()
		fillResult(&ev, cmd, err)
		l.rec.Load().record(&ev)
		return err
	}
}

func (h *hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	if h.dialOnly {
		return next
	}
	return func(ctx context.Context, cmds []redis.Cmder) error {
		l := h.l
		if floors := *l.floors.Load(); len(floors) > 0 {
			for _, cmd := range cmds {
				l.applyFloor(floors, cmd)
			}
		}
		pc, _ := l.sites.capture(1)
		at := l.clock.Now()
		err := next(ctx, cmds)

		// go-redis hands a TxPipeline over wrapped in MULTI and EXEC.
		// NOTE: MULTI and EXEC are billed like the commands between them,
		// which is an assumption: Upstash documents only that the inner
		// commands are billed.
		mode := Pipeline
		if len(cmds) > 0 && cmds[0].Name() == "multi" {
			mode = Tx
		}
		// Each Exec is its own burst: its commands share a scope that no
		// other Exec has.
		scope := nextScope()
		rec := l.rec.Load()
		for _, cmd := range cmds {
			ev := event{name: cmd.Name(), args: cmd.Args(), mode: mode, pc: pc, at: at, scope: scope}
			ev.info = lookupCommand(ev.name)
			fillResult(&ev, cmd, cmd.Err())
			rec.record(&ev)
		}
		return err
	}
}

// fillResult copies the error, the nil flag, the reply size and an integer
// reply from a finished command.
func fillResult(ev *event, cmd redis.Cmder, err error) {
	if err != nil {
		ev.err = err
		ev.isNil = errors.Is(err, redis.Nil)
		return
	}
	switch c := cmd.(type) {
	case *redis.StringCmd:
		ev.reply = int64(len(c.Val()))
	case *redis.IntCmd:
		ev.reply = 8
		ev.intReply = c.Val()
	case *redis.StatusCmd:
		ev.reply = int64(len(c.Val()))
	case *redis.BoolCmd:
		ev.reply = 1
	case *redis.SliceCmd:
		for _, v := range c.Val() {
			if s, ok := v.(string); ok {
				ev.reply += int64(len(s))
			}
		}
	case *redis.StringSliceCmd:
		for _, s := range c.Val() {
			ev.reply += int64(len(s))
		}
	case *redis.MapStringStringCmd:
		for k, v := range c.Val() {
			ev.reply += int64(len(k) + len(v))
		}
	case *redis.Cmd:
		switch v := c.Val().(type) {
		case string:
			ev.reply = int64(len(v))
		case int64:
			ev.reply = 8
			ev.intReply = v
		}
	}
}
