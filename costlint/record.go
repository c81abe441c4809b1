package costlint

import (
	"hash/maphash"
	"math/bits"
	"strings"
	"sync"
	"time"

	"github.com/upstash-ops/sdk/internal/keypattern"
)

// Mode is the way a command reached the server.
type Mode uint8

// Modes of a command.
const (
	Single   Mode = iota // on its own, one round trip
	Pipeline             // in a pipeline
	Tx                   // in a MULTI/EXEC transaction
)

// String returns "single", "pipeline" or "tx".
func (m Mode) String() string {
	switch m {
	case Pipeline:
		return "pipeline"
	case Tx:
		return "tx"
	}
	return "single"
}

const (
	overflowPattern = "{overflow}"
	noKeyPattern    = ""
	// keyCacheSize is the number of slots of the direct-mapped key ->
	// pattern cache. A key's slot is its hash modulo the size, and a new
	// key overwrites the slot's old entry.
	keyCacheSize = 4096
	// sketchBits is the size of each pattern's distinct-key bitmap.
	sketchBits = 1024
	// maxBatch is the number of keys assumed per replacement MGET or MSET.
	maxBatch = 1000
	// maxCommandNames bounds the interned command names.
	maxCommandNames = 512
)

// event is one command as the hook saw it.
type event struct {
	name     string
	info     commandInfo
	args     []any
	mode     Mode
	pc       uintptr
	frame    uintptr // goroutine or frame address of the caller, or 0
	scope    uint64
	at       time.Time
	err      error
	isNil    bool
	reply    int64 // reply bytes, estimated from the value
	intReply int64 // value of an integer reply, for INCR
}

type cmdEntry struct {
	name  string
	info  commandInfo
	calls uint64
	errs  uint64
	// extra is billed calls beyond one per command, made by Lua scripts.
	extra uint64
}

type siteKey struct {
	pc      uintptr
	cmd     *cmdEntry
	pattern uint32
	mode    Mode
}

type siteStats struct {
	calls, errs, nils    uint64
	keys                 uint64
	argBytes, replyBytes uint64

	// Burst tracking for the N+1 rule: the open runs, one per caller,
	// and the totals of the closed ones.
	runs       *[maxRuns]run // allocated for sites of batchable commands
	lastRun    int           // index of the run extended last
	bursts     uint64
	burstCalls uint64
	batchCalls uint64
	maxRun     uint64

	lastKey      uint64
	repeats      uint64        // calls on the same key as the previous call
	blockTimeout time.Duration // summed timeouts of blocking commands
	scanCount    uint64        // summed COUNT of SCAN
}

// maxRuns is the number of callers per site whose runs are tracked at
// once. A caller past it closes the run that was extended longest ago.
// Where callers are frame addresses, one caller can take more than one
// slot, because a goroutine whose stack grows gets a new frame address.
const maxRuns = 32

// run is an open run of commands from one caller of a call site. The
// caller is the explicit Scope when the context has one, and otherwise the
// goroutine (on linux/amd64) or the frame address of the function at the
// call site (on other amd64 systems).
type run struct {
	scope   uint64
	frame   uintptr
	last    int64 // UnixNano of the last command
	lastKey uint64
	n       uint64
}

type patternStats struct {
	name   string
	calls  uint64
	reads  uint64
	writes uint64
	nils   uint64

	ttlWrites uint64        // writes that set a TTL
	ttlMin    time.Duration // smallest TTL seen
	ttlSum    time.Duration
	ttlCount  uint64
	expires   uint64 // EXPIRE family
	// refreshes counts EXPIREs right after a write of the same key that
	// did not need one: INCR that returned more than 1, or SET (use SET EX).
	refreshes    uint64
	refreshAfter string // the write command refreshed after
	lastWriteKey uint64
	lastWrite    string
	lastIncr     int64

	adds, trims       uint64
	zadds, zsameScore uint64
	zremByScore       uint64
	zcards            uint64
	lastScore         string

	replyBytes, argBytes uint64
	maxReply             int64

	sketch [sketchBits / 64]uint64
}

func (p *patternStats) addKey(h uint64) {
	i := h % sketchBits
	p.sketch[i/64] |= 1 << (i % 64)
}

type keyCacheEntry struct {
	hash    uint64 // maphash of the key, 0 for an empty slot
	pattern uint32
}

type hotKey struct {
	key   string
	count uint64
	bytes uint64
}

// recorder aggregates events. Its maps are bounded by the config's caps.
type recorder struct {
	cfg   *config
	seed  maphash.Seed
	start time.Time

	mu        sync.Mutex
	cmds      map[string]*cmdEntry // commands outside the table
	known     []*cmdEntry          // commands of the table, by commandInfo.id
	otherCmd  *cmdEntry
	keyCache  [keyCacheSize]keyCacheEntry
	patternID map[string]uint32
	patterns  []*patternStats
	sites     map[siteKey]*siteStats
	hot       map[uint64]*hotKey // by maphash of the key
	hotMisses uint64

	siteOverflow    uint64
	patternOverflow uint64
	dials           uint64
	dialErrs        uint64
	handshake       uint64
	keyedCalls      uint64
	argBytes        uint64
	replyBytes      uint64
	scripts         *scripts
}

func newRecorder(cfg *config, start time.Time) *recorder {
	r := &recorder{
		cfg:       cfg,
		seed:      maphash.MakeSeed(),
		start:     start,
		cmds:      make(map[string]*cmdEntry),
		known:     make([]*cmdEntry, len(commands)+1),
		otherCmd:  &cmdEntry{name: "other"},
		patternID: make(map[string]uint32),
		sites:     make(map[siteKey]*siteStats),
		hot:       make(map[uint64]*hotKey),
		scripts:   newScripts(cfg),
	}
	r.patterns = append(r.patterns, &patternStats{name: noKeyPattern}, &patternStats{name: overflowPattern})
	r.patternID[noKeyPattern] = 0
	r.patternID[overflowPattern] = 1
	return r
}

// entries calls fn for every command seen. The caller holds r.mu.
func (r *recorder) entries(fn func(*cmdEntry)) {
	for _, e := range r.known {
		if e != nil {
			fn(e)
		}
	}
	for _, e := range r.cmds {
		fn(e)
	}
}

func (r *recorder) command(name string, info commandInfo) *cmdEntry {
	if info.id != 0 {
		e := r.known[info.id]
		if e == nil {
			e = &cmdEntry{name: name, info: info}
			r.known[info.id] = e
		}
		return e
	}
	if e, ok := r.cmds[name]; ok {
		return e
	}
	if len(r.cmds) >= maxCommandNames {
		return r.otherCmd
	}
	e := &cmdEntry{name: name, info: lookupCommand(name)}
	r.cmds[name] = e
	return e
}

// pattern returns the pattern id of key, whose maphash is keyHash,
// normalising it on a cache miss. The caller holds r.mu.
func (r *recorder) pattern(key string, keyHash uint64) uint32 {
	slot := &r.keyCache[keyHash%keyCacheSize]
	if slot.hash == keyHash && keyHash != 0 {
		return slot.pattern
	}
	var buf [keypattern.MaxLen + 8]byte
	norm := keypattern.Append(buf[:0], key)
	id, ok := r.patternID[string(norm)]
	if !ok {
		if len(r.patterns) >= r.cfg.maxPatterns+2 {
			r.patternOverflow++
			return 1
		}
		id = uint32(len(r.patterns))
		name := string(norm)
		r.patterns = append(r.patterns, &patternStats{name: name})
		r.patternID[name] = id
	}
	*slot = keyCacheEntry{hash: keyHash, pattern: id}
	return id
}

// record adds one event. It holds r.mu for the whole update.
func (r *recorder) record(ev *event) {
	// Work that reads only the event runs before the lock, so that
	// concurrent callers hold it for less time.
	info := ev.info
	var argBytes, keyHash uint64
	var key string
	if !info.free {
		argBytes = argSize(ev.args)
		if info.keyed && len(ev.args) > 1 {
			key = argString(ev.args[1])
			keyHash = maphash.String(r.seed, key)
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()

	cmd := r.command(ev.name, info)
	cmd.calls++
	if ev.err != nil && !ev.isNil {
		cmd.errs++
	}
	if cmd.info.free {
		return
	}
	if cmd.name == "client" && isHandshake(ev.args) {
		r.handshake++
		return
	}
	r.argBytes += argBytes
	r.replyBytes += uint64(max(ev.reply, 0))
	if cmd.name == "eval" || cmd.name == "evalsha" || cmd.name == "eval_ro" || cmd.name == "evalsha_ro" {
		cmd.extra += uint64(r.scripts.observe(cmd.name, ev.args))
	}

	patternID := uint32(0)
	if key != "" || keyHash != 0 {
		patternID = r.pattern(key, keyHash)
		r.keyedCalls++
		r.trackHot(key, keyHash, argBytes+uint64(max(ev.reply, 0)))
	}
	p := r.patterns[patternID]
	r.updatePattern(p, cmd, ev, key, keyHash, argBytes)

	sk := siteKey{pc: ev.pc, cmd: cmd, pattern: patternID, mode: ev.mode}
	s, ok := r.sites[sk]
	if !ok {
		if len(r.sites) >= r.cfg.maxCallSites {
			r.siteOverflow++
			return
		}
		s = &siteStats{}
		r.sites[sk] = s
	}
	r.updateSite(s, cmd, ev, keyHash, argBytes)
}

func (r *recorder) updateSite(s *siteStats, cmd *cmdEntry, ev *event, keyHash uint64, argBytes uint64) {
	s.calls++
	if ev.isNil {
		s.nils++
	} else if ev.err != nil {
		s.errs++
	}
	s.argBytes += argBytes
	s.replyBytes += uint64(max(ev.reply, 0))
	s.keys += uint64(keyCount(cmd.info, ev.args))

	switch {
	case cmd.info.blocking:
		s.blockTimeout += blockTimeout(cmd.name, ev.args)
	case cmd.name == "xread":
		s.blockTimeout += xreadBlock(ev.args)
	case cmd.name == "scan":
		s.scanCount += scanCount(ev.args)
	}

	if s.calls > 1 && keyHash == s.lastKey {
		s.repeats++
	}
	s.lastKey = keyHash
	if cmd.info.batch != "" {
		r.extendRun(s, cmd, ev, keyHash)
	}
}

// extendRun adds the command to its caller's open run. A run ends when a
// command without a scope comes more than burstGap after the previous
// one, or when a same-key batch changes key.
func (r *recorder) extendRun(s *siteStats, cmd *cmdEntry, ev *event, keyHash uint64) {
	frame := ev.frame
	if ev.scope != 0 {
		frame = 0 // an explicit scope alone names the caller
	}
	if s.runs == nil {
		s.runs = new([maxRuns]run)
	}
	at := ev.at.UnixNano()
	ru := s.findRun(ev.scope, frame, r.cfg.minBurst)
	if ru.n > 0 && (ev.scope == 0 && time.Duration(at-ru.last) > r.cfg.burstGap ||
		cmd.info.sameKey && keyHash != ru.lastKey) {
		s.closeRun(ru, r.cfg.minBurst)
	}
	ru.scope, ru.frame = ev.scope, frame
	ru.n++
	ru.last, ru.lastKey = at, keyHash
}

// findRun returns the open run of the caller, or an empty slot for it,
// closing the run extended longest ago when every slot is taken.
func (s *siteStats) findRun(scope uint64, frame uintptr, minBurst int) *run {
	if ru := &s.runs[s.lastRun]; ru.n > 0 && ru.scope == scope && ru.frame == frame {
		return ru // the common case: a loop extends the run it extended last
	}
	free, oldest := -1, -1
	for i := range s.runs {
		ru := &s.runs[i]
		switch {
		case ru.n > 0 && ru.scope == scope && ru.frame == frame:
			s.lastRun = i
			return ru
		case ru.n == 0:
			if free < 0 {
				free = i
			}
		case oldest < 0 || ru.last < s.runs[oldest].last:
			oldest = i
		}
	}
	if free < 0 {
		free = oldest
		s.closeRun(&s.runs[free], minBurst)
	}
	s.lastRun = free
	return &s.runs[free]
}

// isHandshake reports whether a CLIENT command is one that go-redis sends
// while it opens a connection.
func isHandshake(args []any) bool {
	if len(args) < 2 {
		return false
	}
	sub := argString(args[1])
	return strings.EqualFold(sub, "setinfo") || strings.EqualFold(sub, "maint_notifications")
}

// closeRun ends ru and counts it as a burst when it is long enough.
func (s *siteStats) closeRun(ru *run, minBurst int) {
	if ru.n >= uint64(minBurst) {
		s.bursts++
		s.burstCalls += ru.n
		s.batchCalls += (ru.n + maxBatch - 1) / maxBatch
		s.maxRun = max(s.maxRun, ru.n)
	}
	*ru = run{}
}

// burstTotals returns the burst counters as they would be if every open
// run ended now, without ending them.
func (s *siteStats) burstTotals(minBurst int) (bursts, calls, batches, maxRun uint64) {
	bursts, calls, batches, maxRun = s.bursts, s.burstCalls, s.batchCalls, s.maxRun
	if s.runs == nil {
		return bursts, calls, batches, maxRun
	}
	for _, ru := range s.runs {
		if ru.n >= uint64(minBurst) {
			bursts++
			calls += ru.n
			batches += (ru.n + maxBatch - 1) / maxBatch
			maxRun = max(maxRun, ru.n)
		}
	}
	return bursts, calls, batches, maxRun
}

func (r *recorder) updatePattern(p *patternStats, cmd *cmdEntry, ev *event, key string, keyHash uint64, argBytes uint64) {
	p.calls++
	p.argBytes += argBytes
	p.replyBytes += uint64(max(ev.reply, 0))
	p.maxReply = max(p.maxReply, ev.reply)
	if key != "" {
		p.addKey(keyHash)
	}
	if ev.isNil {
		p.nils++
	}
	info := cmd.info
	if info.read {
		p.reads++
	}
	if info.write {
		p.writes++
	}
	if info.collection {
		p.adds++
	}
	if info.trim {
		p.trims++
	}

	if info.ttl {
		// A TTL of zero or less deletes the key, so it is no TTL to learn from.
		if ttl, ok := ttlArg(cmd.name, ev.args, ev.at); ok && ttl > 0 {
			if info.write {
				p.ttlWrites++
			}
			if p.ttlMin == 0 || ttl < p.ttlMin {
				p.ttlMin = ttl
			}
			p.ttlSum += ttl
			p.ttlCount++
		}
	}

	switch cmd.name {
	case "expire", "pexpire", "expireat", "pexpireat":
		p.expires++
		p.countRefresh(keyHash)
	case "incr", "incrby", "decr", "decrby", "hincrby", "incrbyfloat":
		p.lastWriteKey, p.lastWrite, p.lastIncr = keyHash, cmd.name, ev.intReply
	case "set":
		if _, hasTTL := ttlArg("set", ev.args, ev.at); !hasTTL {
			p.lastWriteKey, p.lastWrite = keyHash, "set"
		}
	case "zadd":
		p.zadds++
		if len(ev.args) > 3 {
			score := argString(ev.args[len(ev.args)-2])
			if score == p.lastScore {
				p.zsameScore++
			} else {
				p.lastScore = score
			}
		}
	case "zremrangebyscore":
		p.zremByScore++
	case "zcard", "zcount":
		p.zcards++
	}
}

// countRefresh counts an EXPIRE that follows a write of the same key which
// made it redundant.
func (p *patternStats) countRefresh(keyHash uint64) {
	if p.lastWrite == "" || p.lastWriteKey != keyHash {
		return
	}
	if p.lastWrite == "set" || p.lastIncr > 1 {
		p.refreshes++
		p.refreshAfter = p.lastWrite
	}
	p.lastWrite = ""
}

// trackHot counts key in a bounded space-saving table. When the table is
// full, only every 16th unseen key replaces the least counted entry, so
// the counts are estimates that favour keys seen early.
func (r *recorder) trackHot(key string, keyHash uint64, size uint64) {
	if h, ok := r.hot[keyHash]; ok {
		h.count++
		h.bytes += size
		return
	}
	if len(r.hot) < r.cfg.maxHotKeys {
		r.hot[keyHash] = &hotKey{key: key, count: 1, bytes: size}
		return
	}
	r.hotMisses++
	if r.hotMisses%16 != 0 {
		return
	}
	var minKey uint64
	var minCount uint64 = 1<<64 - 1
	for k, h := range r.hot {
		if h.count < minCount {
			minKey, minCount = k, h.count
		}
	}
	delete(r.hot, minKey)
	r.hot[keyHash] = &hotKey{key: key, count: minCount + 1, bytes: size}
}

func (r *recorder) recordDial(err error) {
	r.mu.Lock()
	r.dials++
	if err != nil {
		r.dialErrs++
	}
	r.mu.Unlock()
}

// distinctKeys estimates the number of distinct keys in the sketch by
// linear counting.
func (p *patternStats) distinctKeys() float64 {
	set := 0
	for _, w := range p.sketch {
		set += bits.OnesCount64(w)
	}
	if set == 0 {
		return 0
	}
	if set == sketchBits {
		set = sketchBits - 1 // saturated: report the largest estimate
	}
	return linearCount(sketchBits, sketchBits-set)
}
