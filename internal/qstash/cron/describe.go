package cron

import (
	"fmt"
	"strconv"
	"strings"
)

var monthNames = [...]string{"", "January", "February", "March", "April", "May", "June",
	"July", "August", "September", "October", "November", "December"}

var weekdayNames = [...]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

// maxListedTimes bounds how many clock times Describe lists before it falls
// back to describing minutes and hours separately.
const maxListedTimes = 6

// Describe returns the schedule in English, for example "every 15 minutes,
// every day (UTC)" or "at 09:00, Monday through Friday (Europe/Berlin)".
func (s *Schedule) Describe() string {
	return s.describeTime() + ", " + s.describeDays() + " (" + s.loc.String() + ")"
}

func (s *Schedule) describeTime() string {
	minutes, hours := values(s.minute), values(s.hour)
	allHours := s.hour == rangeBits(0, 23, 1)

	if s.minute == rangeBits(0, 59, 1) {
		if allHours {
			return "every minute"
		}
		return "every minute during " + describeHours(hours)
	}
	if step, ok := stepOf(minutes, 0, 59); ok && allHours {
		return fmt.Sprintf("every %d minutes", step)
	}
	if len(minutes) == 1 {
		if allHours {
			if minutes[0] == 0 {
				return "every hour, on the hour"
			}
			return fmt.Sprintf("every hour at minute %d", minutes[0])
		}
		if step, ok := stepOf(hours, 0, 23); ok {
			return fmt.Sprintf("every %d hours at minute %d", step, minutes[0])
		}
	}
	if !allHours && len(minutes)*len(hours) <= maxListedTimes {
		times := make([]string, 0, len(minutes)*len(hours))
		for _, h := range hours {
			for _, m := range minutes {
				times = append(times, fmt.Sprintf("%02d:%02d", h, m))
			}
		}
		return "at " + joinList(times)
	}

	text := "at minutes " + describeNumbers(minutes, 0, 59)
	if step, ok := stepOf(minutes, 0, 59); ok {
		text = fmt.Sprintf("every %d minutes", step)
	} else if len(minutes) == 1 {
		text = "at minute " + strconv.Itoa(minutes[0])
	}
	if allHours {
		return text + " of every hour"
	}
	return text + " past " + describeHours(hours)
}

func describeHours(hours []int) string {
	if step, ok := stepOf(hours, 0, 23); ok {
		return fmt.Sprintf("every %d hours", step)
	}
	if len(hours) == 1 {
		return "hour " + strconv.Itoa(hours[0])
	}
	return "hours " + describeNumbers(hours, 0, 23)
}

func (s *Schedule) describeDays() string {
	var parts []string
	allMonths := s.month == rangeBits(1, 12, 1)
	dom, dow := values(s.dom), values(s.dow)

	switch {
	case s.domStar && s.dowStar:
		if allMonths {
			return "every day"
		}
		parts = append(parts, "every day")
	case s.domStar:
		parts = append(parts, describeWeekdays(dow))
	case s.dowStar:
		parts = append(parts, describeMonthDays(dom))
	default:
		parts = append(parts, describeMonthDays(dom)+" and "+describeWeekdays(dow))
	}
	if !allMonths {
		names := make([]string, 0, 12)
		for _, m := range values(s.month) {
			names = append(names, monthNames[m])
		}
		parts = append(parts, "in "+joinRuns(values(s.month), names, 1))
	}
	return strings.Join(parts, " ")
}

func describeMonthDays(days []int) string {
	if len(days) == 1 {
		return fmt.Sprintf("on day %d of the month", days[0])
	}
	if step, ok := stepOf(days, 1, 31); ok {
		return fmt.Sprintf("every %d days of the month", step)
	}
	return "on days " + describeNumbers(days, 1, 31) + " of the month"
}

func describeWeekdays(days []int) string {
	if len(days) == 7 {
		return "every day"
	}
	names := make([]string, 0, len(days))
	for _, d := range days {
		names = append(names, weekdayNames[d])
	}
	return "on " + joinRuns(days, names, 1)
}

// describeNumbers lists values, folding runs of three or more into ranges
// and a whole step pattern into "every n".
func describeNumbers(vals []int, low, high int) string {
	if step, ok := stepOf(vals, low, high); ok {
		return fmt.Sprintf("every %d", step)
	}
	names := make([]string, len(vals))
	for i, v := range vals {
		names[i] = strconv.Itoa(v)
	}
	return joinRuns(vals, names, 1)
}

// stepOf reports whether vals is exactly low, low+n, low+2n, ... up to high
// for some n > 1.
func stepOf(vals []int, low, high int) (int, bool) {
	if len(vals) < 2 || vals[0] != low {
		return 0, false
	}
	step := vals[1] - vals[0]
	if step < 2 {
		return 0, false
	}
	for i := 1; i < len(vals); i++ {
		if vals[i]-vals[i-1] != step {
			return 0, false
		}
	}
	if vals[len(vals)-1]+step <= high {
		return 0, false
	}
	return step, true
}

// joinRuns joins names, writing consecutive runs of three or more values as
// "first through last".
func joinRuns(vals []int, names []string, gap int) string {
	var items []string
	for i := 0; i < len(vals); {
		j := i
		for j+1 < len(vals) && vals[j+1]-vals[j] == gap {
			j++
		}
		if j-i >= 2 {
			items = append(items, names[i]+" through "+names[j])
		} else {
			items = append(items, names[i:j+1]...)
		}
		i = j + 1
	}
	return joinList(items)
}

func joinList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	default:
		return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
	}
}
