package nab

// Detectors maps the names accepted by the nabscore command to detector
// constructors.
var Detectors = map[string]func(f *File) Detector{
	"null":     func(*File) Detector { return Null{} },
	"perfect":  func(f *File) Detector { return NewPerfect(f) },
	"gaussian": func(*File) Detector { return NewWindowedGaussian() },
}

func init() {
	Detectors["correlate"] = func(*File) Detector { return newCorrelate() }
}
