package correlate

import (
	"math"
	"slices"
)

// window is a fixed-size sliding window of the most recent values, kept
// twice: in arrival order (a ring) and sorted, so that the median is read
// in constant time and each update costs one binary search and one copy.
type window struct {
	ring   []float64
	sorted []float64
	head   int // next slot of ring to overwrite once the window is full
}

func newWindow(size int) window {
	return window{ring: make([]float64, 0, size), sorted: make([]float64, 0, size)}
}

func (w *window) len() int { return len(w.sorted) }

// push adds v and, when the window is full, drops the oldest value.
func (w *window) push(v float64) {
	if len(w.ring) < cap(w.ring) {
		w.ring = append(w.ring, v)
	} else {
		old := w.ring[w.head]
		w.ring[w.head] = v
		w.head = (w.head + 1) % len(w.ring)
		i, _ := slices.BinarySearch(w.sorted, old)
		w.sorted = slices.Delete(w.sorted, i, i+1)
	}
	i, _ := slices.BinarySearch(w.sorted, v)
	w.sorted = slices.Insert(w.sorted, i, v)
}

// median returns the median of the window; the window must not be empty.
func (w *window) median() float64 {
	n := len(w.sorted)
	if n%2 == 1 {
		return w.sorted[n/2]
	}
	return (w.sorted[n/2-1] + w.sorted[n/2]) / 2
}

// mad returns the median absolute deviation from m, using scratch (at least
// as long as the window) as working space.
func (w *window) mad(m float64, scratch []float64) float64 {
	n := len(w.sorted)
	dev := scratch[:n]
	for i, v := range w.sorted {
		dev[i] = math.Abs(v - m)
	}
	if n%2 == 1 {
		return selectNth(dev, n/2)
	}
	hi := selectNth(dev, n/2)
	lo := slices.Max(dev[:n/2])
	return (lo + hi) / 2
}

// values returns the window's values from oldest to newest.
func (w *window) values() []float64 {
	out := make([]float64, 0, len(w.ring))
	out = append(out, w.ring[w.head:]...)
	return append(out, w.ring[:w.head]...)
}

// selectNth reorders a so that a[k] is the value a sorted copy would have
// at k, with no larger value before it, and returns a[k] (Hoare's
// quickselect with a median-of-three pivot).
func selectNth(a []float64, k int) float64 {
	lo, hi := 0, len(a)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if a[mid] < a[lo] {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if a[hi] < a[lo] {
			a[hi], a[lo] = a[lo], a[hi]
		}
		if a[hi] < a[mid] {
			a[hi], a[mid] = a[mid], a[hi]
		}
		pivot := a[mid]
		i, j := lo, hi
		for i <= j {
			for a[i] < pivot {
				i++
			}
			for a[j] > pivot {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return a[k]
		}
	}
	return a[k]
}
