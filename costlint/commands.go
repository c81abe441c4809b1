package costlint

import (
	"slices"
	"strings"
)

// commandInfo is the hook's and the rules' knowledge of one Redis command.
type commandInfo struct {
	// free commands are not billed by Upstash.
	free bool
	// keyed commands name a key in args[1]. Commands that are not keyed
	// never have an argument read as a key, which keeps AUTH and HELLO
	// passwords out of storage.
	keyed bool
	// multiKey commands take only keys after the name (MGET, DEL).
	multiKey bool
	// pairs commands take key/value pairs (MSET).
	pairs bool
	read  bool
	write bool
	// batch is the variadic command that replaces a run of this
	// single-key command, and sameKey marks that the replacement works only
	// while the key stays the same (HGET fields of one hash -> HMGET).
	batch   string
	sameKey bool
	// collection marks commands that grow a list, set, sorted set, hash
	// or stream; trim marks commands that bound one.
	collection bool
	trim       bool
	blocking   bool
	ttl        bool
	// id numbers the commands of the table from 1, so that a recorder
	// finds its counters by index instead of hashing the name again.
	id int
}

func init() {
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	slices.Sort(names)
	for i, name := range names {
		info := commands[name]
		info.id = i + 1
		commands[name] = info
	}
}

var commands = map[string]commandInfo{
	// Free on Upstash's pay-as-you-go plan.
	"auth": {free: true}, "hello": {free: true}, "select": {free: true},
	"command": {free: true}, "config": {free: true}, "info": {free: true},
	"ping": {free: true}, "reset": {free: true}, "quit": {free: true},

	// Strings.
	"get":         {keyed: true, read: true, batch: "MGET"},
	"getdel":      {keyed: true, read: true, write: true},
	"getex":       {keyed: true, read: true, ttl: true},
	"getrange":    {keyed: true, read: true},
	"strlen":      {keyed: true, read: true},
	"set":         {keyed: true, write: true, batch: "MSET", ttl: true},
	"setnx":       {keyed: true, write: true, batch: "MSETNX"},
	"setex":       {keyed: true, write: true, ttl: true},
	"psetex":      {keyed: true, write: true, ttl: true},
	"append":      {keyed: true, write: true},
	"incr":        {keyed: true, write: true},
	"incrby":      {keyed: true, write: true},
	"incrbyfloat": {keyed: true, write: true},
	"decr":        {keyed: true, write: true},
	"decrby":      {keyed: true, write: true},
	"mget":        {keyed: true, multiKey: true, read: true},
	"mset":        {keyed: true, pairs: true, write: true},
	"msetnx":      {keyed: true, pairs: true, write: true},

	// Keys.
	"del":       {keyed: true, multiKey: true, write: true, batch: "DEL"},
	"unlink":    {keyed: true, multiKey: true, write: true, batch: "UNLINK"},
	"exists":    {keyed: true, multiKey: true, read: true},
	"touch":     {keyed: true, multiKey: true, read: true, batch: "TOUCH"},
	"type":      {keyed: true, read: true},
	"ttl":       {keyed: true, read: true},
	"pttl":      {keyed: true, read: true},
	"expire":    {keyed: true, ttl: true},
	"pexpire":   {keyed: true, ttl: true},
	"expireat":  {keyed: true, ttl: true},
	"pexpireat": {keyed: true, ttl: true},
	"persist":   {keyed: true},
	"keys":      {read: true},
	"scan":      {read: true},

	// Hashes.
	"hget":    {keyed: true, read: true, batch: "HMGET", sameKey: true},
	"hmget":   {keyed: true, read: true},
	"hgetall": {keyed: true, read: true},
	"hset":    {keyed: true, write: true, batch: "HSET with several fields", sameKey: true, collection: true},
	"hsetnx":  {keyed: true, write: true, collection: true},
	"hdel":    {keyed: true, write: true, trim: true},
	"hincrby": {keyed: true, write: true},
	"hexists": {keyed: true, read: true},
	"hlen":    {keyed: true, read: true},

	// Lists.
	"lpush":      {keyed: true, write: true, batch: "LPUSH with several elements", sameKey: true, collection: true},
	"rpush":      {keyed: true, write: true, batch: "RPUSH with several elements", sameKey: true, collection: true},
	"lpop":       {keyed: true, read: true, write: true, trim: true},
	"rpop":       {keyed: true, read: true, write: true, trim: true},
	"ltrim":      {keyed: true, write: true, trim: true},
	"lrange":     {keyed: true, read: true},
	"llen":       {keyed: true, read: true},
	"lindex":     {keyed: true, read: true},
	"blpop":      {keyed: true, read: true, write: true, blocking: true, trim: true},
	"brpop":      {keyed: true, read: true, write: true, blocking: true, trim: true},
	"blmove":     {keyed: true, read: true, write: true, blocking: true, trim: true},
	"brpoplpush": {keyed: true, read: true, write: true, blocking: true, trim: true},
	"bzpopmin":   {keyed: true, read: true, write: true, blocking: true, trim: true},
	"bzpopmax":   {keyed: true, read: true, write: true, blocking: true, trim: true},

	// Sets.
	"sadd":      {keyed: true, write: true, batch: "SADD with several members", sameKey: true, collection: true},
	"srem":      {keyed: true, write: true, batch: "SREM with several members", sameKey: true, trim: true},
	"sismember": {keyed: true, read: true, batch: "SMISMEMBER", sameKey: true},
	"smembers":  {keyed: true, read: true},
	"scard":     {keyed: true, read: true},
	"spop":      {keyed: true, read: true, write: true, trim: true},

	// Sorted sets.
	"zadd":             {keyed: true, write: true, batch: "ZADD with several members", sameKey: true, collection: true},
	"zscore":           {keyed: true, read: true, batch: "ZMSCORE", sameKey: true},
	"zincrby":          {keyed: true, write: true, collection: true},
	"zrem":             {keyed: true, write: true, trim: true},
	"zremrangebyscore": {keyed: true, write: true, trim: true},
	"zremrangebyrank":  {keyed: true, write: true, trim: true},
	"zpopmin":          {keyed: true, read: true, write: true, trim: true},
	"zpopmax":          {keyed: true, read: true, write: true, trim: true},
	"zcard":            {keyed: true, read: true},
	"zcount":           {keyed: true, read: true},
	"zrange":           {keyed: true, read: true},
	"zrangebyscore":    {keyed: true, read: true},
	"zrank":            {keyed: true, read: true},

	// Streams.
	"xadd":   {keyed: true, write: true, collection: true},
	"xtrim":  {keyed: true, write: true, trim: true},
	"xlen":   {keyed: true, read: true},
	"xrange": {keyed: true, read: true},
	"xread":  {read: true},

	// Scripts: EVAL and EVALSHA name keys after numkeys, not in args[1].
	"eval":       {},
	"evalsha":    {},
	"eval_ro":    {},
	"evalsha_ro": {},
}

// lookupCommand returns the table entry for a lower-case command name; an
// unknown command is billed, keyless and neither read nor write.
func lookupCommand(name string) commandInfo {
	if info, ok := commands[name]; ok {
		return info
	}
	if info, ok := commands[strings.ToLower(name)]; ok {
		return info
	}
	return commandInfo{}
}
