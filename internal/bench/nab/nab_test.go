package nab

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// corpusDir finds the NAB corpus: NAB_DIR when set, otherwise a shared/nab
// directory in this directory or one of its parents. Tests that need it
// skip when it is absent.
func corpusDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("NAB_DIR"); dir != "" {
		return dir
	}
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		candidate := filepath.Join(dir, "shared", "nab")
		if _, err := os.Stat(filepath.Join(candidate, "labels", "combined_windows.json")); err == nil {
			return candidate
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("NAB corpus not found: set NAB_DIR to the directory that holds data/ and labels/")
		}
		dir = parent
	}
}

func syntheticFile(rows int, windows ...Window) File {
	f := File{Name: "synthetic.csv", Windows: windows}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range rows {
		f.Times = append(f.Times, start.Add(time.Duration(i)*5*time.Minute))
		f.Values = append(f.Values, 0)
	}
	return f
}

func TestProbationLength(t *testing.T) {
	tests := []struct{ rows, want int }{{100, 15}, {4032, 604}, {10000, 750}, {22695, 750}}
	for _, tt := range tests {
		f := syntheticFile(tt.rows)
		if got := f.Probation(); got != tt.want {
			t.Errorf("Probation() of %d rows = %d, want %d", tt.rows, got, tt.want)
		}
	}
}

func TestScoreRewardsEarlyDetection(t *testing.T) {
	files := []File{syntheticFile(1000, Window{Left: 500, Right: 599})}
	early := make([]float64, 1000)
	early[500] = 1
	late := make([]float64, 1000)
	late[590] = 1

	gotEarly := Score(files, [][]float64{early}, Standard)
	gotLate := Score(files, [][]float64{late}, Standard)
	if gotEarly.Normalized != 100 {
		t.Errorf("detection on the first window row scores %v, want 100", gotEarly.Normalized)
	}
	if gotLate.Raw >= gotEarly.Raw || gotLate.Raw <= 0 {
		t.Errorf("late detection raw = %v, want in (0, %v)", gotLate.Raw, gotEarly.Raw)
	}
}

func TestScoreFalsePositiveWeights(t *testing.T) {
	files := []File{syntheticFile(1000, Window{Left: 500, Right: 599})}
	weights, windows := rowWeights(&files[0], Standard)

	if windows[10] != -2 {
		t.Errorf("row 10 window = %d, want probationary (-2)", windows[10])
	}
	if got := weights[300]; got != -0.11 {
		t.Errorf("weight before the first window = %v, want -0.11", got)
	}
	// Just after the window the charge is close to 0, far after it is -fp.
	if got := weights[600]; got >= 0 || got < -0.01 {
		t.Errorf("weight right after the window = %v, want a small negative", got)
	}
	if got := weights[999]; got != -0.11 {
		t.Errorf("weight far after the window = %v, want -0.11", got)
	}
}

func TestScoreSkipsProbation(t *testing.T) {
	files := []File{syntheticFile(1000, Window{Left: 500, Right: 599})}
	scores := make([]float64, 1000)
	scores[5] = 1 // in the probationary period: not a false positive
	scores[500] = 1
	if got := Score(files, [][]float64{scores}, Standard); got.FalseRows != 0 || got.Normalized != 100 {
		t.Errorf("Score() = %+v, want 100 with no false rows", got)
	}
}

func TestCorpusBaselines(t *testing.T) {
	files, err := LoadCorpus(corpusDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 58 {
		t.Fatalf("corpus has %d files, want 58", len(files))
	}
	tests := []struct {
		name    string
		newDet  func(*File) Detector
		want    float64
		wantRaw float64
	}{
		{"null", Detectors["null"], 0, -116},
		{"perfect", Detectors["perfect"], 100, 116},
		{"windowed gaussian", Detectors["gaussian"], 39.65, -24.013},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Score(files, Run(files, tt.newDet), Standard)
			if math.Abs(got.Normalized-tt.want) > 0.005 {
				t.Errorf("normalised score = %.3f, want %.2f", got.Normalized, tt.want)
			}
			if math.Abs(got.Raw-tt.wantRaw) > 0.0005 {
				t.Errorf("raw score = %.4f, want %.3f", got.Raw, tt.wantRaw)
			}
		})
	}
}

// TestCorrelateDetectorScore guards the recorded NAB result of the
// correlate detector with its default options (57.53 on the standard
// profile when this test was written) against regressions.
func TestCorrelateDetectorScore(t *testing.T) {
	files, err := LoadCorpus(corpusDir(t))
	if err != nil {
		t.Fatal(err)
	}
	got := Score(files, Run(files, Detectors["correlate"]), Standard)
	if got.Normalized < 57.5 {
		t.Errorf("standard-profile score = %.2f, want at least 57.5 (Twitter ADVec scores 47.1)", got.Normalized)
	}
}
