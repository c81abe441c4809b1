// Package nab loads the Numenta Anomaly Benchmark (NAB v1.1) corpus, runs
// anomaly detectors over it and scores them with NAB's rules.
//
// The scoring follows NAB's published method. A probationary period at the
// start of each file is not scored. A scaled sigmoid rewards early detection
// inside a labelled window and charges false positives less the closer they
// follow a window. One threshold per detector and profile is chosen to
// maximise the summed raw score over the corpus. The score is normalised so
// that the null detector gets 0 and a detector that fires on the first row
// of every window gets 100.
package nab

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// Profile is one of NAB's cost profiles: the weights of a true positive, a
// false positive and a false negative.
type Profile struct {
	Name string
	TP   float64
	FP   float64
	FN   float64
}

// NAB's three profiles, as in its config/profiles.json.
var (
	Standard        = Profile{Name: "standard", TP: 1, FP: 0.11, FN: 1}
	RewardLowFP     = Profile{Name: "reward_low_FP_rate", TP: 1, FP: 0.22, FN: 1}
	RewardLowFN     = Profile{Name: "reward_low_FN_rate", TP: 1, FP: 0.11, FN: 2}
	Profiles        = []Profile{Standard, RewardLowFP, RewardLowFN}
	probationFactor = 0.15
	probationMax    = 750
)

// Window is one labelled anomaly window, as row indices into its file
// (both ends included).
type Window struct {
	Left, Right int
}

// File is one series of the corpus with its labelled windows.
type File struct {
	Name    string // category/name.csv, the key used by the label files
	Times   []time.Time
	Values  []float64
	Windows []Window
}

// Probation returns the number of leading rows that are not scored:
// min(floor(0.15 * rows), 750).
func (f *File) Probation() int {
	return min(int(math.Floor(probationFactor*float64(len(f.Values)))), probationMax)
}

const (
	rowLayout    = "2006-01-02 15:04:05"
	windowLayout = "2006-01-02 15:04:05.000000"
)

// LoadCorpus reads every file listed in dir/labels/combined_windows.json
// from dir/data, sorted by name.
func LoadCorpus(dir string) ([]File, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "labels", "combined_windows.json"))
	if err != nil {
		return nil, fmt.Errorf("nab: read labels: %w", err)
	}
	var labels map[string][][2]string
	if err := json.Unmarshal(raw, &labels); err != nil {
		return nil, fmt.Errorf("nab: parse labels: %w", err)
	}

	names := make([]string, 0, len(labels))
	for name := range labels {
		names = append(names, name)
	}
	slices.Sort(names)

	files := make([]File, 0, len(names))
	for _, name := range names {
		f, err := loadFile(filepath.Join(dir, "data", filepath.FromSlash(name)))
		if err != nil {
			return nil, err
		}
		f.Name = name
		for _, w := range labels[name] {
			win, err := f.window(w)
			if err != nil {
				return nil, fmt.Errorf("nab: %s: %w", name, err)
			}
			f.Windows = append(f.Windows, win)
		}
		files = append(files, f)
	}
	return files, nil
}

func loadFile(path string) (File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return File{}, fmt.Errorf("nab: open data file: %w", err)
	}
	defer fh.Close()

	r := csv.NewReader(fh)
	if _, err := r.Read(); err != nil {
		return File{}, fmt.Errorf("nab: %s: read header: %w", path, err)
	}
	var f File
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return File{}, fmt.Errorf("nab: %s: %w", path, err)
		}
		t, err := time.Parse(rowLayout, rec[0])
		if err != nil {
			return File{}, fmt.Errorf("nab: %s: invalid timestamp %q: %w", path, rec[0], err)
		}
		v, err := strconv.ParseFloat(rec[1], 64)
		if err != nil {
			return File{}, fmt.Errorf("nab: %s: invalid value %q: %w", path, rec[1], err)
		}
		f.Times = append(f.Times, t)
		f.Values = append(f.Values, v)
	}
	return f, nil
}

// window converts a [start, end] timestamp pair to row indices: the first
// row at or after start and the last row at or before end.
func (f *File) window(w [2]string) (Window, error) {
	start, err := time.Parse(windowLayout, w[0])
	if err != nil {
		return Window{}, fmt.Errorf("invalid window start %q: %w", w[0], err)
	}
	end, err := time.Parse(windowLayout, w[1])
	if err != nil {
		return Window{}, fmt.Errorf("invalid window end %q: %w", w[1], err)
	}
	left, _ := slices.BinarySearchFunc(f.Times, start, func(a, b time.Time) int { return a.Compare(b) })
	right, found := slices.BinarySearchFunc(f.Times, end, func(a, b time.Time) int { return a.Compare(b) })
	if !found {
		right--
	}
	if left > right || left >= len(f.Times) {
		return Window{}, fmt.Errorf("window %s..%s contains no rows", w[0], w[1])
	}
	return Window{Left: left, Right: right}, nil
}

// scaledSigmoid is NAB's reward curve: 2/(1+e^(5p)) - 1, and -1 for p > 3.
func scaledSigmoid(p float64) float64 {
	if p > 3 {
		return -1
	}
	return 2/(1+math.Exp(5*p)) - 1
}

// rowWeights returns, for each row of f, the value of a detection on that
// row under p and the index of the window that contains the row (-1 when
// none). Probationary rows get window -2 and are skipped by the scorer.
func rowWeights(f *File, p Profile) (weights []float64, windows []int) {
	n := len(f.Values)
	weights = make([]float64, n)
	windows = make([]int, n)
	maxTP := scaledSigmoid(-1)
	probation := f.Probation()

	next := 0 // index of the next window not yet entered
	prevRight, prevWidth := -1, 0
	for i := range n {
		windows[i] = -1
		if next < len(f.Windows) && i >= f.Windows[next].Left {
			w := f.Windows[next]
			if i <= w.Right {
				width := float64(w.Right - w.Left + 1)
				pos := -float64(w.Right-i+1) / width
				weights[i] = scaledSigmoid(pos) / maxTP * p.TP
				windows[i] = next
			}
			if i >= w.Right {
				prevRight, prevWidth = w.Right, w.Right-w.Left+1
				next++
			}
			if windows[i] >= 0 {
				continue
			}
		}
		switch {
		case prevRight < 0:
			weights[i] = -p.FP
		case prevWidth <= 1:
			weights[i] = -p.FP
		default:
			pos := float64(i-prevRight) / float64(prevWidth-1)
			weights[i] = scaledSigmoid(pos) * p.FP
		}
	}
	for i := range min(probation, n) {
		windows[i] = -2
	}
	return weights, windows
}

// Result is the score of one detector under one profile.
type Result struct {
	Profile    Profile
	Threshold  float64 // the threshold that maximised Raw
	Raw        float64
	Null       float64 // raw score of a detector that never fires
	Perfect    float64 // raw score of a detector that fires on every window's first row
	Normalized float64 // 100 * (Raw - Null) / (Perfect - Null)
	Detected   int     // windows with at least one detection
	Windows    int
	FalseRows  int // detections outside every window
}

// Score sweeps every threshold over the anomaly scores (scores[i] belongs to
// files[i], one value per row) and returns the best result under p.
func Score(files []File, scores [][]float64, p Profile) Result {
	type row struct {
		score  float64
		weight float64
		window int // global window id, or -1
	}
	var rows []row
	windowCount := 0
	for fi := range files {
		f := &files[fi]
		weights, windows := rowWeights(f, p)
		for i, s := range scores[fi] {
			switch w := windows[i]; {
			case w == -2:
				continue
			case w >= 0:
				rows = append(rows, row{s, weights[i], windowCount + w})
			default:
				rows = append(rows, row{s, weights[i], -1})
			}
		}
		windowCount += len(f.Windows)
	}
	slices.SortStableFunc(rows, func(a, b row) int { return cmp.Compare(b.score, a.score) })

	null := -p.FN * float64(windowCount)
	res := Result{
		Profile:   p,
		Threshold: math.Inf(1),
		Raw:       null,
		Null:      null,
		Perfect:   p.TP * float64(windowCount),
		Windows:   windowCount,
	}
	best := make([]float64, windowCount)
	hit := make([]bool, windowCount)
	total, detected, falseRows := null, 0, 0
	for i := 0; i < len(rows); {
		// Add every row that shares this score, then evaluate the threshold.
		s := rows[i].score
		for ; i < len(rows) && rows[i].score == s; i++ {
			r := rows[i]
			switch {
			case r.window < 0:
				total += r.weight
				falseRows++
			case !hit[r.window]:
				hit[r.window] = true
				best[r.window] = r.weight
				total += r.weight + p.FN
				detected++
			case r.weight > best[r.window]:
				total += r.weight - best[r.window]
				best[r.window] = r.weight
			}
		}
		if total > res.Raw {
			res.Raw, res.Threshold, res.Detected, res.FalseRows = total, s, detected, falseRows
		}
	}
	res.Normalized = 100 * (res.Raw - res.Null) / (res.Perfect - res.Null)
	return res
}

// Detector scores one series, one row at a time, using only rows seen so
// far. A new Detector is made for every file.
type Detector interface {
	// Score returns the anomaly score of the row, in [0, 1].
	Score(t time.Time, v float64) float64
}

// Run runs a fresh detector from newDetector over every file and returns its
// scores rounded to 12 decimal places, as NAB stores them.
func Run(files []File, newDetector func(f *File) Detector) [][]float64 {
	out := make([][]float64, len(files))
	for fi := range files {
		f := &files[fi]
		d := newDetector(f)
		scores := make([]float64, len(f.Values))
		for i, v := range f.Values {
			scores[i] = Round12(d.Score(f.Times[i], v))
		}
		out[fi] = scores
	}
	return out
}

// Round12 rounds x to 12 decimal places.
func Round12(x float64) float64 {
	return math.Round(x*1e12) / 1e12
}

// ScoreAt returns the raw score of one file at a fixed threshold.
func ScoreAt(f *File, scores []float64, p Profile, threshold float64) Result {
	weights, windows := rowWeights(f, p)
	res := Result{Profile: p, Threshold: threshold, Windows: len(f.Windows)}
	best := make([]float64, len(f.Windows))
	hit := make([]bool, len(f.Windows))
	for i, s := range scores {
		if windows[i] == -2 || s < threshold {
			continue
		}
		switch w := windows[i]; {
		case w < 0:
			res.Raw += weights[i]
			res.FalseRows++
		case !hit[w]:
			hit[w], best[w] = true, weights[i]
			res.Detected++
		default:
			best[w] = max(best[w], weights[i])
		}
	}
	for w := range best {
		if hit[w] {
			res.Raw += best[w]
		} else {
			res.Raw -= p.FN
		}
	}
	return res
}

// Subset returns the files at even or odd positions (in name order), or all
// of them, so that parameters can be tuned on one half of the corpus and
// checked on the other.
func Subset(files []File, which string) ([]File, error) {
	var parity int
	switch which {
	case "all":
		return files, nil
	case "even":
		parity = 0
	case "odd":
		parity = 1
	default:
		return nil, fmt.Errorf("nab: invalid subset %q: use all, even or odd", which)
	}
	var out []File
	for i := parity; i < len(files); i += 2 {
		out = append(out, files[i])
	}
	return out, nil
}
