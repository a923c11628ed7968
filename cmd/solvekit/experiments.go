package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/solvekit/solvekit/experiment"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
)

// exitWorse is an experiment compared with a baseline (--baseline) in
// which some variant got worse.
const exitWorse = 4

// instanceExts are the files an instance directory's import sends: JSON,
// MPS and LP, and TSPLIB for job types that read it (job.WithInstanceFile).
var instanceExts = map[string]bool{".json": true, ".mps": true, ".lp": true, ".tsp": true}

// dirArchive packs the instance files of dir (instanceExts; not
// hidden, not in subdirectories) into a .tar.gz, and says how many.
func dirArchive(dir string) ([]byte, int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, err
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	n := 0
	for _, en := range entries {
		name := en.Name()
		if en.IsDir() || strings.HasPrefix(name, ".") || !instanceExts[strings.ToLower(filepath.Ext(name))] {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, 0, err
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return nil, 0, err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, 0, err
		}
		n++
	}
	if n == 0 {
		return nil, 0, fmt.Errorf("%s holds no instance files (.json, .mps, .lp, .tsp)", dir)
	}
	if err := tw.Close(); err != nil {
		return nil, 0, err
	}
	if err := gz.Close(); err != nil {
		return nil, 0, err
	}
	return buf.Bytes(), n, nil
}

// importDir imports dir's instance files as an instance set.
func importDir(ctx context.Context, c *client.Client, name, jobType string, tags []string, dir string) (*api.InstanceSet, error) {
	data, _, err := dirArchive(dir)
	if err != nil {
		return nil, err
	}
	return c.ImportInstanceSet(ctx, name, jobType, tags, []client.File{{Name: "instances.tar.gz", Data: data}})
}

func (a *app) instanceSetCommand() *cobra.Command {
	root := &cobra.Command{Use: "instance-set", Short: "Import and list instance sets"}
	var jobType string
	var tags []string
	imp := a.clientCommand(&cobra.Command{Use: "import NAME DIR", Short: "Import a directory of instance files (.json, .mps, .lp, .tsp) as an instance set"}, cobra.ExactArgs(2), func(ctx context.Context, c *client.Client, args []string) error {
		set, err := importDir(ctx, c, args[0], jobType, tags, args[1])
		if err != nil {
			return err
		}
		return a.show(set, func(w io.Writer) {
			fmt.Fprintf(w, "id:\t%s\nname:\t%s\ninstances:\t%d\n", set.ID, set.Name, len(set.InstanceIDs))
		})
	})
	imp.Flags().StringVar(&jobType, "job-type", "", "validate the files against this job type's instance schema")
	imp.Flags().StringArrayVar(&tags, "tag", nil, "tag the set and its instances (repeatable)")
	list := listCommand(a, "list", "List instance sets, newest first", firstPage((*client.Client).ListInstanceSets, 100),
		func(w io.Writer, l *api.InstanceSetList) {
			fmt.Fprintln(w, "ID\tNAME\tINSTANCES\tCREATED")
			for _, s := range l.InstanceSets {
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", s.ID, s.Name, len(s.InstanceIDs), s.CreatedAt.Format(time.RFC3339))
			}
		})
	root.AddCommand(imp, list)
	return root
}

// parseVariant reads --variant label=L,solver=S,config=JSON (config
// last, as its JSON may hold commas).
func parseVariant(v string) (api.VariantCreate, error) {
	var out api.VariantCreate
	rest := v
	for rest != "" {
		kv, tail, _ := strings.Cut(rest, ",")
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return out, fmt.Errorf("--variant %q: want label=NAME,solver=NAME,config=JSON", v)
		}
		switch k {
		case "label":
			out.Label = val
		case "solver":
			out.Solver = val
		case "config":
			raw, err := jsonArg(strings.TrimPrefix(rest, "config="))
			if err != nil {
				return out, fmt.Errorf("--variant %q: config: %w", v, err)
			}
			out.Config, tail = raw, ""
		default:
			return out, fmt.Errorf("--variant %q: unknown key %q (label, solver, config)", v, k)
		}
		rest = tail
	}
	if out.Label == "" {
		out.Label = first(out.Solver, "default")
	}
	return out, nil
}

// experimentFlags are experiment run's flags.
type experimentFlags struct {
	jobType, name, sense, setID, baseline string
	variants, kpis, tags                  []string
	repetitions, maxInFlight              int
	timeLimit, waitFor                    time.Duration
	markBaseline, noWait                  bool
	tolerance                             float64
}

func (a *app) experimentCommand() *cobra.Command {
	root := &cobra.Command{Use: "experiment", Short: "Compare solvers and configs over an instance set"}
	var f experimentFlags
	run := &cobra.Command{
		Use:   "run --job-type T --variant label=A,solver=S,config=JSON... [DIR]",
		Short: "Run an experiment over a directory of instances and print the comparison table",
		Long: `Import DIR's instance files (.json, .mps, .lp, .tsp) as an instance set (or use
--instance-set), run every instance under every --variant (and --repetitions
seeds), wait for the experiment to finish and print a table per variant:
cells, solved, shifted geometric mean time (shift 10 s), mean gap, mean
objective, wins and mean primal integral.

With --baseline ID (or "auto": the newest experiment marked baseline of the
job type) the table is followed by the comparison; the exit code is 4 when
a variant got worse beyond --tolerance.`,
		Example: `  solvekit experiment run --job-type knapsack --variant label=greedy,solver=greedy \
      --variant label=bb,solver=bb,config='{"time_limit":5}' ./instances
  solvekit experiment run --job-type mip --variant solver=cbc --baseline auto --tolerance 0.1 ./models`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runExperiment(cmd.Context(), args, f)
		},
	}
	fl := run.Flags()
	fl.StringVar(&f.jobType, "job-type", "", "the job type to run (required)")
	fl.StringArrayVar(&f.variants, "variant", nil, "a variant: label=NAME,solver=NAME,config=JSON (config last; repeatable)")
	fl.StringVar(&f.name, "name", "", "the experiment's name")
	fl.StringVar(&f.setID, "instance-set", "", "run over this stored instance set instead of DIR")
	fl.IntVar(&f.repetitions, "repetitions", 1, "runs per instance and variant (seeds 1..N in the config's seed field)")
	fl.IntVar(&f.maxInFlight, "max-in-flight", 4, "executions queued or running at once")
	fl.DurationVar(&f.timeLimit, "time-limit", 0, "each execution's hard time limit (default: the job type's)")
	fl.StringVar(&f.sense, "sense", "min", "the objective's direction: min or max")
	fl.StringArrayVar(&f.tags, "tag", nil, "tag the experiment (repeatable)")
	fl.BoolVar(&f.markBaseline, "mark-baseline", false, "mark this experiment as a baseline for later ones")
	fl.StringVar(&f.baseline, "baseline", "", `compare with this experiment ("auto": the newest baseline of the job type); exit 4 when worse`)
	fl.Float64Var(&f.tolerance, "tolerance", 0.05, "relative tolerance of the comparison")
	fl.StringArrayVar(&f.kpis, "kpi", nil, "also compare this KPI: NAME:min or NAME:max (repeatable)")
	fl.BoolVar(&f.noWait, "no-wait", false, "print the experiment and return without waiting")
	fl.DurationVar(&f.waitFor, "wait-timeout", 0, "give up waiting after this long (0: never)")

	var csv bool
	results := a.clientCommand(&cobra.Command{Use: "results ID", Short: "Print an experiment's table (--csv: every cell as CSV)"}, cobra.ExactArgs(1), func(ctx context.Context, c *client.Client, args []string) error {
		if csv {
			b, _, err := c.ExperimentFile(ctx, args[0], "results.csv")
			if err == nil {
				_, err = a.out.Write(b)
			}
			return err
		}
		res, err := c.ExperimentResults(ctx, args[0])
		if err != nil {
			return err
		}
		return a.show(res, func(w io.Writer) { aggregateTable(w, res) })
	})
	results.Flags().BoolVar(&csv, "csv", false, "every cell as CSV")
	var cf experimentFlags
	compare := a.clientCommand(&cobra.Command{Use: "compare ID", Short: "Compare an experiment with a baseline; exit 4 when a variant got worse"}, cobra.ExactArgs(1), func(ctx context.Context, c *client.Client, args []string) error {
		return a.compare(ctx, c, args[0], cf)
	})
	compare.Flags().StringVar(&cf.baseline, "baseline", "auto", `the baseline experiment ("auto": the newest baseline of the job type)`)
	compare.Flags().Float64Var(&cf.tolerance, "tolerance", 0.05, "relative tolerance")
	compare.Flags().StringArrayVar(&cf.kpis, "kpi", nil, "also compare this KPI: NAME:min or NAME:max (repeatable)")
	stop := idCommand(a, "stop ID", "Stop an experiment (its running executions are cancelled; finished cells stay)",
		(*client.Client).StopExperiment, a.showExperiment)
	list := listCommand(a, "list", "List experiments, newest first", firstPage((*client.Client).ListExperiments, 100),
		func(w io.Writer, l *api.ExperimentList) {
			fmt.Fprintln(w, "ID\tNAME\tJOB TYPE\tSTATE\tCELLS\tBASELINE\tCREATED")
			for _, e := range l.Experiments {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d/%d\t%v\t%s\n", e.ID, dash(e.Name), e.JobType, e.State, e.Submitted, e.Cells, e.Baseline, e.CreatedAt.Format(time.RFC3339))
			}
		})
	root.AddCommand(run, results, compare, stop, list)
	return root
}

func (a *app) showExperiment(e *api.Experiment) error {
	return a.show(e, func(w io.Writer) {
		fmt.Fprintf(w, "id:\t%s\nstate:\t%s\ncells:\t%d submitted of %d\n", e.ID, e.State, e.Submitted, e.Cells)
	})
}

func (a *app) runExperiment(ctx context.Context, args []string, f experimentFlags) error {
	if f.jobType == "" || len(f.variants) == 0 || (len(args) == 0) == (f.setID == "") {
		return &exitError{code: exitUsage, err: errors.New("give --job-type, at least one --variant, and DIR or --instance-set")}
	}
	req := api.ExperimentCreate{Name: f.name, JobType: f.jobType, InstanceSetID: f.setID, Repetitions: f.repetitions,
		MaxInFlight: f.maxInFlight, TimeLimitSeconds: f.timeLimit.Seconds(), Sense: f.sense, Baseline: f.markBaseline, Tags: f.tags}
	for _, v := range f.variants {
		vc, err := parseVariant(v)
		if err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		req.Variants = append(req.Variants, vc)
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	if len(args) == 1 {
		set, err := importDir(ctx, c, first(f.name, filepath.Base(filepath.Clean(args[0]))), f.jobType, f.tags, args[0])
		if err != nil {
			return err
		}
		req.InstanceSetID = set.ID
	}
	e, err := c.CreateExperiment(ctx, req)
	if err != nil {
		return err
	}
	if f.noWait {
		return a.showExperiment(e)
	}
	ctx, cancel := bounded(ctx, f.waitFor)
	defer cancel()
	// On a terminal, a status line on stderr says how far it got.
	errFile, ok := a.errOut.(*os.File)
	live := ok && isTerminal(errFile)
	for e.State == experiment.StateRunning {
		if live {
			fmt.Fprintf(a.errOut, "\r\033[Kexperiment %s: %d of %d cells submitted", e.ID, e.Submitted, e.Cells)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("experiment %s still running (%d of %d cells submitted): %w", e.ID, e.Submitted, e.Cells, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
		if e, err = c.GetExperiment(ctx, e.ID); err != nil {
			return err
		}
	}
	if live {
		fmt.Fprint(a.errOut, "\r\033[K")
	}
	res, err := c.ExperimentResults(ctx, e.ID)
	if err != nil {
		return err
	}
	if f.baseline == "" {
		return a.show(res, func(w io.Writer) { aggregateTable(w, res) })
	}
	if !a.json() {
		tw := newTable(a.out)
		aggregateTable(tw, res)
		fmt.Fprintln(tw)
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return a.compare(ctx, c, e.ID, f)
}

// compare prints experiment id's comparison with f.baseline and fails
// with exitWorse when a variant got worse.
func (a *app) compare(ctx context.Context, c *client.Client, id string, f experimentFlags) error {
	o := client.CompareOptions{Tolerance: f.tolerance, KPIs: map[string]string{}}
	if f.baseline != "auto" {
		o.Baseline = f.baseline
	}
	for _, k := range f.kpis {
		name, sense, ok := strings.Cut(k, ":")
		if !ok || (sense != "min" && sense != "max") {
			return &exitError{code: exitUsage, err: fmt.Errorf("--kpi %q: want NAME:min or NAME:max", k)}
		}
		o.KPIs[name] = sense
	}
	cmp, err := c.CompareExperiment(ctx, id, o)
	if err != nil {
		return err
	}
	err = a.show(cmp, func(w io.Writer) {
		fmt.Fprintf(w, "baseline %s\n", cmp.BaselineID)
		fmt.Fprintln(w, "VARIANT\tMETRIC\tBASELINE\tCURRENT\tVERDICT")
		for _, m := range cmp.Metrics {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", m.Variant, m.Metric, num(m.Baseline), num(m.Current), m.Verdict)
		}
	})
	if err == nil && cmp.Worse {
		return &exitError{code: exitWorse, err: fmt.Errorf("a variant got worse than baseline %s", cmp.BaselineID)}
	}
	return err
}

// aggregateTable writes the comparison table: a row per variant.
func aggregateTable(w io.Writer, res *api.ExperimentResults) {
	e := res.Experiment
	fmt.Fprintf(w, "experiment %s: %s, %d cells, %s\n", e.ID, e.JobType, e.Cells, e.State)
	fmt.Fprintln(w, "VARIANT\tCELLS\tSOLVED\tSGM TIME (s)\tMEAN GAP\tMEAN OBJECTIVE\tWINS\tPRIMAL INTEGRAL")
	for _, ag := range res.Aggregates {
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\t%d\t%s\n", ag.Variant, ag.Cells, ag.Solved, num(ag.SGMTime), num(ag.MeanGap),
			num(ag.MeanObjective), ag.Wins, num(ag.PrimalIntegral))
	}
}

// newTable is a tab-aligned writer for a table on w (as show uses).
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }
