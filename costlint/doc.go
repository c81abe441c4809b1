// Package costlint finds Redis usage patterns that waste money on a
// per-command bill, such as Upstash's, and prices them.
package costlint
