package costlint

import (
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// maxStackDepth is how many frames above the hook are searched for the
// first frame outside go-redis and costlint. The first fastDepth frames
// are read by callers, by frame-pointer walking on amd64; a direct client
// call or pipeline has four to six go-redis frames above the hook, and
// stopping early keeps the walk inside Go frames.
const (
	maxStackDepth = 32
	fastDepth     = 8
)

// maxCachedPCs bounds the program counters whose skip decision is cached;
// past it, new program counters are classified on every call.
const maxCachedPCs = 1 << 14

// callSites classifies program counters as internal (go-redis, costlint's
// hook, the runtime, user-listed wrappers) or as the caller's code, and
// caches each decision. Reads take no lock.
type callSites struct {
	skipPrefixes []string

	mu    sync.Mutex
	cache atomic.Pointer[map[uintptr]bool] // copy-on-write

	// names holds the description of each call-site pc, taken from a
	// precise runtime.Callers the first time the pc is seen, because a
	// single frame-pointer pc does not carry the functions inlined into it.
	namesMu sync.Mutex
	names   map[uintptr]string
	named   atomic.Pointer[map[uintptr]bool] // copy-on-write keys of names
}

func newCallSites(extra []string) *callSites {
	c := &callSites{skipPrefixes: append([]string{
		"github.com/redis/go-redis/",
		"github.com/upstash-ops/sdk/costlint.(*hook)",
		"github.com/upstash-ops/sdk/costlint.(*Linter)",
		"github.com/upstash-ops/sdk/costlint.(*callSites)",
		"runtime.",
	}, extra...)}
	c.names = make(map[uintptr]string)
	noNames := map[uintptr]bool{}
	c.named.Store(&noNames)
	empty := map[uintptr]bool{}
	c.cache.Store(&empty)
	return c
}

// capture returns the program counter of the first frame outside the
// skipped packages, or 0 when every searched frame is internal, and the
// frame pointer of that frame (0 where frame pointers are not read). skip
// is the number of frames above capture's caller to leave out.
//
//go:noinline
func (c *callSites) capture(skip int) (pc, frame uintptr) {
	var pcs, fps [fastDepth]uintptr
	n := callers(skip+1, pcs[:], fps[:])
	if i, ok := c.firstExternal(pcs[:n]); ok {
		pc, frame = pcs[i], fps[i]
	} else {
		// Deeper wrappers: unwind with runtime.Callers, which is slower
		// but safe past any frame, such as C frames of a cgo callback
		// whose frame pointers cannot be trusted.
		var deep [maxStackDepth]uintptr
		n = runtime.Callers(skip+2, deep[:])
		i, ok := c.firstExternal(deep[:n])
		if !ok {
			return 0, 0
		}
		pc = deep[i]
	}
	if !(*c.named.Load())[pc] {
		c.name(pc)
	}
	return pc, frame
}

// name stores the description of pc, found by a precise unwind of the
// current stack. It runs once per call site.
func (c *callSites) name(pc uintptr) {
	c.namesMu.Lock()
	full := len(c.names) >= maxCachedPCs
	c.namesMu.Unlock()
	if full {
		return // later call sites are described from their pc alone
	}

	var pcs [maxStackDepth * 2]uintptr
	n := runtime.Callers(1, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	desc := ""
	for {
		f, more := frames.Next()
		if !c.skipped(f.Function) {
			desc = formatFrame(f)
			break
		}
		if !more {
			break
		}
	}
	if desc == "" {
		desc = c.describePC(pc)
	}
	c.namesMu.Lock()
	defer c.namesMu.Unlock()
	c.names[pc] = desc
	named := make(map[uintptr]bool, len(c.names))
	for k := range c.names {
		named[k] = true
	}
	c.named.Store(&named)
}

// firstExternal returns the index of the first pc that is not internal.
func (c *callSites) firstExternal(pcs []uintptr) (int, bool) {
	cache := *c.cache.Load()
	for i, pc := range pcs {
		internal, ok := cache[pc]
		if !ok {
			internal = c.learn(pc)
		}
		if !internal {
			return i, true
		}
	}
	return 0, false
}

// learn classifies pc by its outermost function, which is the physical
// function the pc is in when other functions were inlined into it.
// FuncForPC names the innermost function but reports the outermost
// function's entry, so the entry is resolved a second time.
func (c *callSites) learn(pc uintptr) bool {
	outer := ""
	if fn := runtime.FuncForPC(pc - 1); fn != nil {
		if entry := runtime.FuncForPC(fn.Entry()); entry != nil {
			outer = entry.Name()
		}
	}
	internal := c.skipped(outer)

	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.cache.Load()
	if len(old) >= maxCachedPCs {
		return internal
	}
	next := make(map[uintptr]bool, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[pc] = internal
	c.cache.Store(&next)
	return internal
}

func (c *callSites) skipped(function string) bool {
	if function == "" {
		return true
	}
	for _, p := range c.skipPrefixes {
		if strings.HasPrefix(function, p) {
			return true
		}
	}
	return false
}

// describe returns "function (file:line)" for a pc that capture returned.
func (c *callSites) describe(pc uintptr) string {
	if pc == 0 {
		return "unknown"
	}
	c.namesMu.Lock()
	desc, ok := c.names[pc]
	c.namesMu.Unlock()
	if ok {
		return desc
	}
	return c.describePC(pc)
}

// describePC resolves pc on its own, which names the physical function
// and misses functions inlined into it.
func (c *callSites) describePC(pc uintptr) string {
	frames := runtime.CallersFrames([]uintptr{pc})
	var last runtime.Frame
	for {
		f, more := frames.Next()
		last = f
		if !c.skipped(f.Function) || !more {
			break
		}
	}
	return formatFrame(last)
}

func formatFrame(last runtime.Frame) string {
	file := last.File
	if i := strings.LastIndex(file, "/"); i >= 0 {
		if j := strings.LastIndex(file[:i], "/"); j >= 0 {
			file = file[j+1:]
		}
	}
	fn := last.Function
	if i := strings.LastIndex(fn, "/"); i >= 0 {
		fn = fn[i+1:]
	}
	return fn + " (" + file + ":" + strconv.Itoa(last.Line) + ")"
}
