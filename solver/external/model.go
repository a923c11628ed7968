package external

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/solvekit/solvekit/job"
)

// Model formats accepted in Model.Format.
const (
	// FormatMPS is (free or fixed) MPS. An OBJSENSE section is honoured
	// by both solvers (it is turned into the solver's own flag, since
	// neither CBC nor GLPK reads it from the file).
	FormatMPS = "mps"
	// FormatLP is CPLEX LP format, read natively by CBC and GLPK.
	FormatLP = "lp"
)

// Objective senses, Model.Sense values.
const (
	Minimize = "min"
	Maximize = "max"
)

// Model is the instance of the external solvers: a model file's text and
// its format. Sense optionally overrides the objective sense the file
// declares.
type Model struct {
	// Format is "mps" or "lp".
	Format string `json:"format" validate:"required,oneof=mps lp"`
	// Model is the file's full text.
	Model string `json:"model" validate:"required"`
	// Sense is "min" or "max"; empty keeps the file's (LP: its first
	// keyword; MPS: its OBJSENSE section, else min).
	Sense string `json:"sense,omitempty" validate:"omitempty,oneof=min max"`
}

// Solution is the solution the external solvers return.
type Solution struct {
	// Status is the solver status (job.SolverStatus).
	Status job.SolverStatus `json:"status"`
	// Objective is the objective value of the solution, if there is one.
	Objective *float64 `json:"objective,omitempty"`
	// Variables holds the non-zero values of the variables by name (a
	// variable not listed is zero). It is absent when only the objective is
	// known: an incumbent read from the solver's log, or the best solution
	// of a solver killed before it wrote its solution file.
	Variables map[string]float64 `json:"variables,omitempty"`
}

// decodeModel reads and validates the instance.
func decodeModel(raw json.RawMessage) (*Model, error) {
	var m Model
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, job.Fail(fmt.Sprintf("instance is not a model: %v", err), nil)
	}
	if err := job.Validate(&m); err != nil {
		return nil, job.Fail("instance is not a model: "+err.Error(), err)
	}
	return &m, nil
}

// prepared is a model ready to be written for a solver.
type prepared struct {
	format string
	text   string // normalised file text
	sense  string // effective sense
	flag   bool   // the sense must be passed to the solver explicitly
}

// prepare normalises line ends, strips an MPS OBJSENSE section (neither
// CBC nor GLPK reads it) and works out the objective sense.
func prepare(m *Model) prepared {
	text := strings.ReplaceAll(m.Model, "\r\n", "\n")
	p := prepared{format: m.Format, text: text, sense: Minimize}
	switch m.Format {
	case FormatMPS:
		var sense string
		p.text, sense = stripObjSense(text)
		if sense != "" {
			p.sense, p.flag = sense, true
		}
	case FormatLP:
		p.sense = lpSense(text)
	}
	if m.Sense != "" {
		p.flag = p.flag || m.Sense != p.sense
		p.sense = m.Sense
	}
	return p
}

// lpSense returns the sense an LP file declares with its first keyword.
func lpSense(text string) string {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '\\'); i >= 0 { // comment
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		if strings.HasPrefix(strings.ToLower(line), "max") {
			return Maximize
		}
		return Minimize
	}
	return Minimize
}

// stripObjSense removes an OBJSENSE section ("OBJSENSE MAX" on one line or
// the sense on the next line) and returns the text and the sense found.
func stripObjSense(text string) (string, string) {
	lines := strings.Split(text, "\n")
	out := make([]string, 0, len(lines))
	sense := ""
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		f := strings.Fields(line)
		if len(f) == 0 || line[0] == ' ' || line[0] == '\t' || !strings.EqualFold(f[0], "OBJSENSE") {
			out = append(out, line)
			continue
		}
		val := ""
		if len(f) > 1 {
			val = f[1]
		} else {
			for i+1 < len(lines) {
				next := lines[i+1]
				nf := strings.Fields(next)
				if len(nf) == 0 { // blank line inside the section
					i++
					continue
				}
				if next[0] != ' ' && next[0] != '\t' { // next section
					break
				}
				val = nf[0]
				i++
				break
			}
		}
		switch strings.ToUpper(val) {
		case "MAX", "MAXIMIZE", "MAXIMISE":
			sense = Maximize
		case "MIN", "MINIMIZE", "MINIMISE":
			sense = Minimize
		}
	}
	return strings.Join(out, "\n"), sense
}
