package costlint

import "time"

// Month is the length of the month that observed rates are projected to:
// 30 days.
const Month = 30 * 24 * time.Hour

// Pricing is a Redis price list. A pay-as-you-go plan sets PricePer100K; a
// fixed plan sets MonthlyPrice and its caps, and its findings show as
// headroom because fewer commands do not lower a fixed bill. The zero
// Pricing prices everything at $0.
type Pricing struct {
	// Name is shown in reports.
	Name string
	// PricePer100K is the price in dollars of 100,000 billed commands.
	PricePer100K float64
	// FreeBandwidthGB is the monthly bandwidth in GB (10^9 bytes) that is
	// included, and PricePerGB is what each GB beyond it costs.
	FreeBandwidthGB float64
	PricePerGB      float64
	// MonthlyPrice is the flat monthly price of a fixed plan.
	MonthlyPrice float64
	// MaxCommandsPerSecond, MaxDataGB and MaxBandwidthGB are a fixed
	// plan's caps; zero means no cap.
	MaxCommandsPerSecond float64
	MaxDataGB            float64
	MaxBandwidthGB       float64
}

// UpstashPayAsYouGo is Upstash Redis's pay-as-you-go price list: $0.20 per
// 100K commands and 200 GB of bandwidth a month free, then $0.03 per GB.
var UpstashPayAsYouGo = Pricing{
	Name:            "Upstash pay-as-you-go",
	PricePer100K:    0.20,
	FreeBandwidthGB: 200,
	PricePerGB:      0.03,
}

// FixedPlan returns a fixed-price plan. Fill in the numbers of the plan you
// pay for, because fixed plan prices and caps change more often than the
// pay-as-you-go rate.
func FixedPlan(name string, monthlyPrice, maxCommandsPerSecond, maxDataGB, maxBandwidthGB float64) Pricing {
	return Pricing{
		Name:                 name,
		MonthlyPrice:         monthlyPrice,
		MaxCommandsPerSecond: maxCommandsPerSecond,
		MaxDataGB:            maxDataGB,
		MaxBandwidthGB:       maxBandwidthGB,
	}
}

// Fixed reports whether the plan has a flat price, so that saved commands
// save no money.
func (p Pricing) Fixed() bool { return p.PricePer100K == 0 && p.MonthlyPrice > 0 }

// CommandCost returns the dollars that n billed commands cost.
func (p Pricing) CommandCost(n float64) float64 {
	return n * p.PricePer100K / 100_000
}

// BandwidthCost returns the dollars that a month's bandwidth of bytes costs
// beyond the free allowance.
func (p Pricing) BandwidthCost(bytes float64) float64 {
	gb := bytes / 1e9
	if gb <= p.FreeBandwidthGB {
		return 0
	}
	return (gb - p.FreeBandwidthGB) * p.PricePerGB
}

// PerMonth projects a count observed over window to a Month.
func PerMonth(count float64, window time.Duration) float64 {
	if window <= 0 {
		return 0
	}
	return count * float64(Month) / float64(window)
}
