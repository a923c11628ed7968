package experiment

import (
	"encoding/csv"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
)

// Verdict is how a metric of a variant moved against the baseline.
type Verdict string

// Verdicts.
const (
	Better Verdict = "better"
	Worse  Verdict = "worse"
	Same   Verdict = "same"
)

// CompareOptions tunes Compare.
type CompareOptions struct {
	// Relative is the relative tolerance: a change of at most Relative ×
	// |baseline| (plus Absolute) is Same. Default 0.05.
	Relative float64 `json:"relative,omitempty"`
	// Absolute is the absolute tolerance. Default 1e-9.
	Absolute float64 `json:"absolute,omitempty"`
	// Sense is the objective's direction for mean_objective ("" is
	// Minimize).
	Sense Sense `json:"sense,omitempty"`
	// KPIGoals names the KPIs to compare and their direction (min: lower
	// is better); KPIs not named are not compared.
	KPIGoals map[string]Sense `json:"kpi_goals,omitempty"`
}

// MetricComparison is one metric of one variant against the baseline.
type MetricComparison struct {
	Variant string `json:"variant"`
	// Metric is solved_share (solved cells over cells), sgm_time, mean_gap, primal_integral,
	// mean_objective or kpi:<name>.
	Metric   string   `json:"metric"`
	Baseline *float64 `json:"baseline,omitempty"`
	Current  *float64 `json:"current,omitempty"`
	Verdict  Verdict  `json:"verdict"`
}

// Comparison compares an experiment's aggregates with a baseline's,
// variant by variant (matched by label).
type Comparison struct {
	BaselineID   string             `json:"baseline_id"`
	ExperimentID string             `json:"experiment_id"`
	Metrics      []MetricComparison `json:"metrics"`
	// Worse says some metric of some variant got worse: the gate of an
	// acceptance test.
	Worse bool `json:"worse"`
}

// Compare compares cur with base, variant by variant (variants in only
// one of them are left out): solved_share, the share of cells solved
// (more is better; any change counts, so experiments of different sizes
// compare),
// sgm_time, mean_gap and primal_integral (less is better),
// mean_objective (by o.Sense) and the KPIs of o.KPIGoals. A metric missing
// on one side is Same when missing on both, else Worse when cur lacks it
// and Better when base does.
func Compare(base, cur []Aggregate, o CompareOptions) Comparison {
	if o.Relative == 0 {
		o.Relative = 0.05
	}
	if o.Absolute == 0 {
		o.Absolute = 1e-9
	}
	var c Comparison
	for _, a := range cur {
		i := slices.IndexFunc(base, func(b Aggregate) bool { return b.Variant == a.Variant })
		if i < 0 {
			continue
		}
		b := base[i]
		add := func(metric string, bv, cv *float64, lowerBetter, exact bool) {
			m := MetricComparison{Variant: a.Variant, Metric: metric, Baseline: bv, Current: cv,
				Verdict: verdict(bv, cv, lowerBetter, exact, o)}
			if m.Verdict == Worse {
				c.Worse = true
			}
			c.Metrics = append(c.Metrics, m)
		}
		add("solved_share", share(b), share(a), false, true)
		add("sgm_time", b.SGMTime, a.SGMTime, true, false)
		add("mean_gap", b.MeanGap, a.MeanGap, true, false)
		add("primal_integral", b.PrimalIntegral, a.PrimalIntegral, true, false)
		add("mean_objective", b.MeanObjective, a.MeanObjective, o.Sense != Maximize, false)
		for _, k := range slices.Sorted(maps.Keys(o.KPIGoals)) {
			add("kpi:"+k, kpi(b.KPIs, k), kpi(a.KPIs, k), o.KPIGoals[k] != Maximize, false)
		}
	}
	return c
}

func share(a Aggregate) *float64 {
	if a.Cells == 0 {
		return nil
	}
	v := float64(a.Solved) / float64(a.Cells)
	return &v
}

func kpi(m map[string]float64, k string) *float64 {
	if v, ok := m[k]; ok {
		return &v
	}
	return nil
}

func verdict(b, c *float64, lowerBetter, exact bool, o CompareOptions) Verdict {
	switch {
	case b == nil && c == nil:
		return Same
	case c == nil:
		return Worse
	case b == nil:
		return Better
	}
	d := *c - *b
	tol := o.Absolute + o.Relative*math.Abs(*b)
	if exact {
		tol = 0
	}
	switch {
	case math.Abs(d) <= tol:
		return Same
	case (d < 0) == lowerBetter:
		return Better
	}
	return Worse
}

// WriteCSV writes rows as CSV with a header: cell, instance, instance_id,
// variant, repetition, execution_id, state, solver_status, objective,
// best_bound, gap, time_to_best, time (seconds), then one column
// "kpi:<name>" per KPI any row has. Missing values are empty.
func WriteCSV(w io.Writer, rows []Row) error {
	names := map[string]bool{}
	for _, r := range rows {
		for k := range r.KPIs {
			names[k] = true
		}
	}
	kpis := slices.Sorted(maps.Keys(names))
	cw := csv.NewWriter(w)
	head := []string{"cell", "instance", "instance_id", "variant", "repetition", "execution_id", "state", "solver_status",
		"objective", "best_bound", "gap", "time_to_best", "time"}
	for _, k := range kpis {
		head = append(head, "kpi:"+k)
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	for _, r := range rows {
		rec := []string{strconv.Itoa(r.Cell), strconv.Itoa(r.Instance), r.InstanceID, r.Variant, strconv.Itoa(r.Repetition),
			r.ExecutionID, r.State, r.SolverStatus, Format(r.Objective), Format(r.BestBound), Format(r.Gap),
			Format(r.TimeToBest), Format(r.Time)}
		for _, k := range kpis {
			rec = append(rec, Format(kpi(r.KPIs, k)))
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Format writes a value the way tables and CSV show it: shortest form,
// "" for nil.
func Format(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'g', 6, 64)
}
