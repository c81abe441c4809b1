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

// TestScoreHandComputed checks the scorer against a case worked out by hand
// from NAB's rules, with sigma(p) = 2/(1+e^(5p)) - 1:
//
//	100 rows, probation floor(0.15*100) = 15 rows,
//	window A = rows 50..59 (width 10), window B = rows 80..83 (width 4).
//	row 10: in probation, ignored
//	row 20: before the first window, -fp
//	row 55: 5 rows from A's right end, p = -0.5: sigma(-0.5)/sigma(-1) = 0.859793
//	row 58: later in A, p = -0.2: worth less than row 55, so not counted
//	row 62: 3 rows after A, p = 3/9: fp * sigma(1/3) = -0.075049
//	row 79: 20 rows after A, p = 20/9: fp * sigma(2.22) = -0.109997
//	row 95: 12 rows after B, p = 12/3 > 3: -fp
//	window B is missed: -fn
func TestScoreHandComputed(t *testing.T) {
	files := []File{syntheticFile(100, Window{Left: 50, Right: 59}, Window{Left: 80, Right: 83})}
	scores := make([]float64, 100)
	for _, i := range []int{10, 20, 55, 58, 62, 79, 95} {
		scores[i] = 1
	}
	const tp55, fp62, fp79 = 0.8597925669097837, -0.07504879692619866, -0.1099967120746637
	tests := []struct {
		p       Profile
		wantRaw float64
	}{
		{Standard, -0.11 + tp55 + fp62 + fp79 - 0.11 - 1},
		{RewardLowFP, -0.22 + tp55 + 2*fp62 + 2*fp79 - 0.22 - 1},
		{RewardLowFN, -0.11 + tp55 + fp62 + fp79 - 0.11 - 2},
	}
	for _, tt := range tests {
		t.Run(tt.p.Name, func(t *testing.T) {
			got := Score(files, [][]float64{scores}, tt.p)
			if math.Abs(got.Raw-tt.wantRaw) > 1e-12 {
				t.Errorf("raw = %.12f, want %.12f", got.Raw, tt.wantRaw)
			}
			if got.Threshold != 1 {
				t.Errorf("threshold = %v, want 1", got.Threshold)
			}
			if got.Detected != 1 || got.FalseRows != 4 {
				t.Errorf("detected %d windows with %d false rows, want 1 and 4", got.Detected, got.FalseRows)
			}
			null, perfect := -2*tt.p.FN, 2*tt.p.TP
			wantNorm := 100 * (tt.wantRaw - null) / (perfect - null)
			if math.Abs(got.Normalized-wantNorm) > 1e-9 {
				t.Errorf("normalised = %.9f, want %.9f", got.Normalized, wantNorm)
			}
			if at := ScoreAt(&files[0], scores, tt.p, 1); math.Abs(at.Raw-tt.wantRaw) > 1e-12 {
				t.Errorf("ScoreAt raw = %.12f, want %.12f", at.Raw, tt.wantRaw)
			}
		})
	}
	if want := 100 * (-0.5452529420910787 + 2) / 4; math.Abs(Score(files, [][]float64{scores}, Standard).Normalized-want) > 1e-9 {
		t.Errorf("standard normalised score differs from the hand value %.6f", want)
	}
}

// TestScoreThresholdTies checks that rows sharing a score are all detected
// at that threshold (a detection is a score at or above it) and that a
// lower threshold that adds only false positives is not chosen.
func TestScoreThresholdTies(t *testing.T) {
	files := []File{syntheticFile(100, Window{Left: 50, Right: 59})}
	scores := make([]float64, 100)
	scores[50], scores[40] = 0.7, 0.7 // the window's first row and a false positive, tied
	scores[30] = 0.5                  // a lone false positive below
	got := Score(files, [][]float64{scores}, Standard)
	if got.Threshold != 0.7 {
		t.Errorf("threshold = %v, want 0.7", got.Threshold)
	}
	if want := 1 - 0.11; math.Abs(got.Raw-want) > 1e-12 {
		t.Errorf("raw = %v, want %v (one window at its first row, one false row)", got.Raw, want)
	}
}
