package correlate

import "strings"

// Signals that the built-in collectors report. A series name is a signal,
// optionally followed by labels in braces.
const (
	SignalRedisCommands    = "redis.commands_per_sec"
	SignalRedisMemory      = "redis.used_memory_bytes"
	SignalRedisMemoryRatio = "redis.memory_used_ratio" // used_memory / maxmemory, when maxmemory is set
	SignalRedisHitRatio    = "redis.hit_ratio"
	SignalRedisMisses      = "redis.keyspace_misses_per_sec"
	SignalRedisExpired     = "redis.expired_keys_per_sec"
	SignalRedisEvicted     = "redis.evicted_keys_per_sec"
	SignalRedisRejected    = "redis.rejected_writes_per_sec" // OOM errors on writes
	SignalRedisKeys        = "redis.keys"
	SignalRedisClients     = "redis.connected_clients"

	SignalQStashPublish   = "qstash.publish_per_sec"
	SignalQStashQueueLag  = "qstash.queue_lag"
	SignalQStashParallel  = "qstash.queue_parallelism"
	SignalQStashDLQ       = "qstash.dlq_size"
	SignalQStashDelivered = "qstash.delivery_success_ratio"

	SignalVectorCount   = "vector.vector_count"
	SignalVectorPending = "vector.pending_vector_count"
	SignalVectorIndex   = "vector.index_size_bytes"
	SignalVectorLatency = "vector.query_latency_seconds"

	SignalKafkaLag     = "kafka.consumer_lag"
	SignalKafkaConsume = "kafka.consume_per_sec"
	SignalKafkaProduce = "kafka.produce_per_sec"

	// SignalEvent is the prefix of events such as "event.deploy" or
	// "event.config"; an event is a candidate cause of every signal.
	SignalEvent = "event."
)

// SignalOf returns the signal of a series name: the part before any "{".
func SignalOf(series string) string {
	if i := strings.IndexByte(series, '{'); i >= 0 {
		return series[:i]
	}
	return series
}

// Edge is a plausible causal link between two signals: a change of From can
// bring a change of To.
type Edge struct {
	From, To string
	// Why is one clause that explains the mechanism, used in incident text.
	Why string
}

// DefaultEdges are the built-in causal links between Upstash signals.
var DefaultEdges = []Edge{
	{SignalRedisHitRatio, SignalRedisMisses, "fewer cache hits mean more misses"},
	{SignalRedisMisses, SignalRedisCommands, "each miss costs a read and a refill"},
	{SignalRedisMisses, SignalQStashPublish, "misses are refilled by background jobs"},
	{SignalQStashPublish, SignalQStashQueueLag, "more published jobs wait in the queue"},
	{SignalQStashPublish, SignalQStashDLQ, "more jobs means more that fail"},
	{SignalQStashDelivered, SignalQStashDLQ, "failed deliveries end in the DLQ"},
	{SignalQStashDelivered, SignalQStashQueueLag, "retries of failed deliveries hold the queue"},
	{SignalRedisKeys, SignalRedisMemory, "more keys take more memory"},
	{SignalRedisMemory, SignalRedisMemoryRatio, "used memory approaches maxmemory"},
	{SignalRedisMemoryRatio, SignalRedisEvicted, "memory at its limit forces evictions"},
	{SignalRedisMemory, SignalRedisEvicted, "memory at its limit forces evictions"},
	{SignalRedisMemoryRatio, SignalRedisRejected, "with noeviction, writes fail at the memory limit"},
	{SignalRedisMemory, SignalRedisRejected, "with noeviction, writes fail at the memory limit"},
	{SignalRedisEvicted, SignalRedisHitRatio, "evicted keys turn later reads into misses"},
	{SignalVectorCount, SignalVectorIndex, "more vectors make a larger index"},
	{SignalVectorPending, SignalVectorLatency, "queries wait for pending vectors to be indexed"},
	{SignalVectorIndex, SignalVectorLatency, "a larger index is slower to query"},
	{SignalKafkaConsume, SignalKafkaLag, "a consumer that slows or stalls leaves messages unread"},
	{SignalKafkaProduce, SignalKafkaLag, "more produced messages than consumers read"},
	{SignalKafkaLag, SignalRedisMemory, "a stalled pipeline buffers its backlog"},
	{SignalKafkaLag, SignalQStashQueueLag, "a stalled pipeline buffers its backlog"},
}

// advice maps a root signal to the first thing to check.
var advice = map[string]string{
	SignalRedisHitRatio:    "check what changed in cache keys, TTLs or invalidation; roll back the change if keys moved",
	SignalRedisMisses:      "look for new key patterns or a TTL that expires too soon",
	SignalRedisCommands:    "find the call site whose command rate rose (costlint's report lists them)",
	SignalRedisMemory:      "set TTLs on growing key patterns or move to a larger plan before the limit",
	SignalRedisMemoryRatio: "set TTLs on growing key patterns or raise maxmemory",
	SignalRedisEvicted:     "raise the memory limit or shorten TTLs of large, cold keys",
	SignalRedisRejected:    "free memory now: writes are failing",
	SignalRedisKeys:        "find the key pattern that grows without a TTL",
	SignalQStashPublish:    "find the producer that publishes more; deliveries still decide whether endpoints are healthy",
	SignalQStashQueueLag:   "raise the queue's parallelism or slow the producer",
	SignalQStashDelivered:  "check the endpoint: deliveries are failing",
	SignalQStashDLQ:        "inspect the DLQ messages for the failing endpoint",
	SignalVectorCount:      "check the ingestion job that adds vectors",
	SignalVectorPending:    "wait for indexing or slow the upserts",
	SignalVectorIndex:      "prune stale vectors or plan a larger index",
	SignalVectorLatency:    "check index size, pending vectors and query topK",
	SignalKafkaConsume:     "check the consumer group's members: one may be stuck",
	SignalKafkaLag:         "scale the consumer group or fix the stalled partition",
	SignalKafkaProduce:     "find the producer whose rate rose",
}
