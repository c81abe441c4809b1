// Package heal classifies workflow and job failures as transient,
// configuration, logical or dependency failures, and acts on each class.
package heal
