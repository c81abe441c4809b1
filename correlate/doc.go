// Package correlate learns baselines for Upstash service metrics, detects
// anomalies and joins related ones into one explained incident.
package correlate
