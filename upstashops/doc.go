// Package upstashops wires the SDK's checks into one Operator that runs them
// on a schedule, routes findings to people and acts within the owner's policy.
package upstashops
