// Package ratelimit is a distributed rate limiter on Redis that spends as few
// billed commands per decision as possible.
package ratelimit
