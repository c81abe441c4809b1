// Package cron parses the five-field cron expressions that QStash schedules
// use, computes their trigger times and describes them in English.
//
// The accepted syntax is the one QStash documents: minute, hour, day of month,
// month and day of week, each a "*", a number, a range "a-b", a step "*/n" or
// "a-b/n", or a comma-separated list of those. Months and weekdays also take
// three-letter names (JAN, MON). A leading "CRON_TZ=Zone " sets the time zone,
// which is UTC otherwise. The macros @yearly, @annually, @monthly, @weekly,
// @daily, @midnight and @hourly are accepted. As in Vixie cron, when both day
// of month and day of week are restricted, a day matches if either matches.
package cron

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// ErrSyntax is wrapped by every error Parse returns.
var ErrSyntax = errors.New("invalid cron expression")

// maxExpressionLength bounds the input Parse reads, so that hostile input
// cannot make it allocate without limit.
const maxExpressionLength = 1024

// searchHorizon bounds how far Next looks ahead. An expression that matches
// no time within it (for example February 30) never fires.
const searchHorizon = 5 * 366 * 24 * time.Hour

type field struct {
	name     string
	min, max int
	names    map[string]int
}

var (
	minuteField = field{name: "minute", min: 0, max: 59}
	hourField   = field{name: "hour", min: 0, max: 23}
	domField    = field{name: "day of month", min: 1, max: 31}
	monthField  = field{name: "month", min: 1, max: 12, names: map[string]int{
		"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
		"JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12,
	}}
	// Day of week accepts 7 as a second name for Sunday.
	dowField = field{name: "day of week", min: 0, max: 7, names: map[string]int{
		"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6,
	}}
)

var macros = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// Schedule is a parsed cron expression. Its zero value matches nothing; get
// one from Parse. A Schedule is immutable and safe for concurrent use.
type Schedule struct {
	expr                          string
	minute, hour, dom, month, dow uint64
	domStar, dowStar              bool
	loc                           *time.Location
}

// Parse parses a cron expression. Errors wrap ErrSyntax and name the field
// and the value that failed.
func Parse(expr string) (*Schedule, error) {
	if len(expr) > maxExpressionLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrSyntax, maxExpressionLength)
	}
	s := &Schedule{expr: expr, loc: time.UTC}
	rest := strings.TrimSpace(expr)

	if zone, ok := strings.CutPrefix(rest, "CRON_TZ="); ok {
		name, tail, _ := strings.Cut(zone, " ")
		loc, err := time.LoadLocation(name)
		if err != nil || name == "" || strings.ContainsAny(name, "\\") {
			return nil, fmt.Errorf("%w %q: unknown time zone %q", ErrSyntax, expr, name)
		}
		s.loc = loc
		rest = strings.TrimSpace(tail)
	}
	if m, ok := macros[strings.ToLower(rest)]; ok {
		rest = m
	}

	fields := strings.Fields(rest)
	if len(fields) != 5 {
		return nil, fmt.Errorf("%w %q: want 5 fields (minute hour day-of-month month day-of-week), got %d", ErrSyntax, expr, len(fields))
	}
	var err error
	if s.minute, _, err = parseField(fields[0], minuteField); err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrSyntax, expr, err)
	}
	if s.hour, _, err = parseField(fields[1], hourField); err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrSyntax, expr, err)
	}
	if s.dom, s.domStar, err = parseField(fields[2], domField); err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrSyntax, expr, err)
	}
	if s.month, _, err = parseField(fields[3], monthField); err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrSyntax, expr, err)
	}
	if s.dow, s.dowStar, err = parseField(fields[4], dowField); err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrSyntax, expr, err)
	}
	if s.dow&(1<<7) != 0 {
		s.dow = s.dow&^(1<<7) | 1
	}
	return s, nil
}

// parseField returns the set of values of one field as a bit set, and whether
// the field was an unrestricted "*" (or "?").
func parseField(text string, f field) (set uint64, star bool, err error) {
	if text == "*" || text == "?" {
		return rangeBits(f.min, f.max, 1), true, nil
	}
	for part := range strings.SplitSeq(text, ",") {
		bitsOfPart, err := parsePart(part, f)
		if err != nil {
			return 0, false, err
		}
		set |= bitsOfPart
	}
	return set, false, nil
}

func parsePart(part string, f field) (uint64, error) {
	rangeText, stepText, hasStep := strings.Cut(part, "/")
	step := 1
	if hasStep {
		n, err := strconv.Atoi(stepText)
		if err != nil || n <= 0 || n > f.max+1 {
			return 0, fmt.Errorf("%s: invalid step %q", f.name, stepText)
		}
		step = n
	}

	var low, high int
	switch {
	case rangeText == "*":
		low, high = f.min, f.max
	case strings.Contains(rangeText, "-"):
		lowText, highText, _ := strings.Cut(rangeText, "-")
		var err error
		if low, err = parseValue(lowText, f); err != nil {
			return 0, err
		}
		if high, err = parseValue(highText, f); err != nil {
			return 0, err
		}
		if low > high {
			return 0, fmt.Errorf("%s: range %q ends before it starts", f.name, rangeText)
		}
	default:
		v, err := parseValue(rangeText, f)
		if err != nil {
			return 0, err
		}
		low, high = v, v
		if hasStep {
			high = f.max
		}
	}
	return rangeBits(low, high, step), nil
}

func parseValue(text string, f field) (int, error) {
	if v, ok := f.names[strings.ToUpper(text)]; ok {
		return v, nil
	}
	v, err := strconv.Atoi(text)
	if err != nil || v < f.min || v > f.max {
		return 0, fmt.Errorf("%s: invalid value %q (want %d-%d)", f.name, text, f.min, f.max)
	}
	return v, nil
}

func rangeBits(low, high, step int) uint64 {
	var set uint64
	for v := low; v <= high; v += step {
		set |= 1 << uint(v)
	}
	return set
}

// String returns the expression as it was parsed.
func (s *Schedule) String() string { return s.expr }

// Location returns the time zone the schedule is evaluated in.
func (s *Schedule) Location() *time.Location { return s.loc }

// Next returns the first trigger time strictly after t, or the zero time when
// the expression matches no time in the next five years.
func (s *Schedule) Next(t time.Time) time.Time {
	if s.minute == 0 || s.hour == 0 || s.month == 0 || (s.dom == 0 && s.dow == 0) {
		return time.Time{}
	}
	limit := t.Add(searchHorizon)
	t = t.In(s.loc).Truncate(time.Minute).Add(time.Minute)

	for t.Before(limit) {
		if s.month&(1<<uint(t.Month())) == 0 {
			t = forward(t, time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, s.loc))
			continue
		}
		if !s.dayMatches(t) {
			t = forward(t, time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, s.loc))
			continue
		}
		if s.hour&(1<<uint(t.Hour())) == 0 {
			t = forward(t, time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, s.loc))
			continue
		}
		if s.minute&(1<<uint(t.Minute())) == 0 {
			// Jump to the next matching minute of this hour, if any.
			later := s.minute &^ (1<<uint(t.Minute()+1) - 1)
			if later == 0 {
				t = forward(t, time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, s.loc))
				continue
			}
			t = t.Add(time.Duration(bits.TrailingZeros64(later)-t.Minute()) * time.Minute)
			continue
		}
		return t
	}
	return time.Time{}
}

// forward returns next, or cur plus one minute when next is not later than
// cur. time.Date may resolve a wall-clock time inside a daylight-saving gap
// to an instant before cur, and Next must never move backwards.
func forward(cur, next time.Time) time.Time {
	if next.After(cur) {
		return next
	}
	return cur.Add(time.Minute)
}

func (s *Schedule) dayMatches(t time.Time) bool {
	domMatch := s.dom&(1<<uint(t.Day())) != 0
	dowMatch := s.dow&(1<<uint(t.Weekday())) != 0
	if s.domStar || s.dowStar {
		return domMatch && dowMatch
	}
	return domMatch || dowMatch
}

// Count returns how many trigger times fall in the interval (from, to], up
// to limit. truncated is true when the count stopped at limit.
func (s *Schedule) Count(from, to time.Time, limit int) (n int, truncated bool) {
	for t := s.Next(from); !t.IsZero() && !t.After(to); t = s.Next(t) {
		if n == limit {
			return n, true
		}
		n++
	}
	return n, false
}

// Interval returns the typical gap between triggers: the median gap over the
// next 64 triggers after t, or 0 when the schedule never fires.
func (s *Schedule) Interval(t time.Time) time.Duration {
	gaps := make([]time.Duration, 0, 64)
	prev := s.Next(t)
	for range 64 {
		if prev.IsZero() {
			break
		}
		next := s.Next(prev)
		if next.IsZero() {
			break
		}
		gaps = append(gaps, next.Sub(prev))
		prev = next
	}
	if len(gaps) == 0 {
		return 0
	}
	// Insertion sort: at most 64 values.
	for i := 1; i < len(gaps); i++ {
		for j := i; j > 0 && gaps[j] < gaps[j-1]; j-- {
			gaps[j], gaps[j-1] = gaps[j-1], gaps[j]
		}
	}
	return gaps[len(gaps)/2]
}

// values lists the members of a bit set in ascending order.
func values(set uint64) []int {
	out := make([]int, 0, bits.OnesCount64(set))
	for set != 0 {
		v := bits.TrailingZeros64(set)
		out = append(out, v)
		set &^= 1 << uint(v)
	}
	return out
}
