// Command nabscore runs a detector over the NAB corpus and prints its
// normalised score under each of NAB's cost profiles.
//
//	go run ./nab/cmd/nabscore -data /path/to/nab -detector correlate
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/upstash-ops/sdk/internal/bench/nab"
)

func main() {
	dir := flag.String("data", "../../../shared/nab", "NAB corpus directory (contains data/ and labels/)")
	detector := flag.String("detector", "correlate", "detector to score: correlate, gaussian, null or perfect")
	perFile := flag.Bool("files", false, "also print the standard-profile raw score of each file at the chosen threshold")
	subset := flag.String("subset", "all", "files to score: all, even or odd (by position in name order), for tuning on one half and checking on the other")
	flag.Parse()

	files, err := nab.LoadCorpus(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	files, err = nab.Subset(files, *subset)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	newDetector, ok := nab.Detectors[*detector]
	if !ok {
		fmt.Fprintf(os.Stderr, "nabscore: unknown detector %q: use correlate, gaussian, null or perfect\n", *detector)
		os.Exit(2)
	}
	scores := nab.Run(files, newDetector)
	for _, p := range nab.Profiles {
		r := nab.Score(files, scores, p)
		fmt.Printf("%-20s score %6.2f  raw %8.3f  threshold %.6f  windows %d/%d  false rows %d\n",
			p.Name, r.Normalized, r.Raw, r.Threshold, r.Detected, r.Windows, r.FalseRows)
	}
	if *perFile {
		r := nab.Score(files, scores, nab.Standard)
		for i := range files {
			fr := nab.ScoreAt(&files[i], scores[i], nab.Standard, r.Threshold)
			fmt.Printf("%-60s raw %7.3f  windows %d/%d  false rows %d\n", files[i].Name, fr.Raw, fr.Detected, fr.Windows, fr.FalseRows)
		}
	}
}
