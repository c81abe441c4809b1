package schedules

import "fmt"

// UnmarshalText decodes a severity name.
func (s *Severity) UnmarshalText(text []byte) error {
	switch string(text) {
	case "info":
		*s = SeverityInfo
	case "warning":
		*s = SeverityWarning
	case "critical":
		*s = SeverityCritical
	default:
		return fmt.Errorf("schedules: invalid severity %q: want info, warning or critical", text)
	}
	return nil
}
