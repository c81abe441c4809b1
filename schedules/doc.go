// Package schedules audits QStash schedules for zombies, dead endpoints,
// misconfiguration and duplicates, and prices what they consume.
package schedules
