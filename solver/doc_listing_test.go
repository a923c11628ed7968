package solver_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// guide is the document whose Go listings are compiled code.
const guide = "../docs/writing-a-solver.md"

// listingFiles are the files (relative to the repository root) whose
// "// doc:begin NAME" ... "// doc:end NAME" regions the guide shows.
var listingFiles = []string{"solver/example_writing_test.go", "solver/example_writing_unit_test.go"}

var (
	listingMarker = regexp.MustCompile(`^<!-- listing: (\S+)#(\S+) -->$`)
	regionBegin   = regexp.MustCompile(`^// doc:begin (\S+)$`)
	regionEnd     = regexp.MustCompile(`^// doc:end (\S+)$`)
)

// TestWritingGuideMatchesCode keeps docs/writing-a-solver.md honest: every
// ```go block in it is either marked "<!-- listing: FILE#REGION -->" and
// then identical to that region of the compiled (and run) example files,
// or marked "<!-- fragment -->" as an illustration; and every region of
// the example files is shown in the guide exactly once.
func TestWritingGuideMatchesCode(t *testing.T) {
	doc, err := os.ReadFile(guide)
	require.NoError(t, err)
	blocks := guideBlocks(t, string(doc))

	regions := map[string]string{} // "file#region" -> code
	for _, f := range listingFiles {
		src, err := os.ReadFile(filepath.Join("..", f))
		require.NoError(t, err)
		for name, code := range fileRegions(t, f, string(src)) {
			regions[f+"#"+name] = code
		}
	}
	require.NotEmpty(t, regions)

	shown := map[string]int{}
	for _, b := range blocks {
		if b.ref == "" {
			continue // a fragment
		}
		code, ok := regions[b.ref]
		require.True(t, ok, "%s line %d shows %s, which is no region of %v", guide, b.line, b.ref, listingFiles)
		shown[b.ref]++
		if b.code != code {
			t.Errorf("%s line %d: the listing of %s differs from the code; copy the region into the guide.\n%s",
				guide, b.line, b.ref, firstDifference(code, b.code))
		}
	}
	for ref := range regions {
		require.Equal(t, 1, shown[ref], "region %s must be shown in %s exactly once", ref, guide)
	}
}

type guideBlock struct {
	ref  string // "file#region", or "" for a fragment
	line int
	code string
}

// guideBlocks returns the ```go blocks of a Markdown document with the
// marker comment on the line before each.
func guideBlocks(t *testing.T, doc string) []guideBlock {
	t.Helper()
	var out []guideBlock
	var cur *guideBlock
	var code []string
	prev := ""
	sc := bufio.NewScanner(strings.NewReader(doc))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur != nil && line == "```":
			cur.code = trimBlank(code)
			out = append(out, *cur)
			cur, code = nil, nil
		case cur != nil:
			code = append(code, line)
		case line == "```go":
			cur = &guideBlock{line: n}
			if m := listingMarker.FindStringSubmatch(prev); m != nil {
				cur.ref = m[1] + "#" + m[2]
			} else if prev != "<!-- fragment -->" {
				t.Errorf("%s line %d: a ```go block needs <!-- listing: FILE#REGION --> or <!-- fragment --> on the line before it", guide, n)
			}
		}
		prev = line
	}
	require.NoError(t, sc.Err())
	require.Nil(t, cur, "%s: unterminated ```go block", guide)
	return out
}

// fileRegions returns the regions of a Go file, without their marker
// lines and without leading or trailing blank lines.
func fileRegions(t *testing.T, name, src string) map[string]string {
	t.Helper()
	out := map[string]string{}
	open := ""
	var code []string
	for i, line := range strings.Split(src, "\n") {
		if m := regionBegin.FindStringSubmatch(line); m != nil {
			require.Empty(t, open, "%s:%d: region %s opens inside region %s", name, i+1, m[1], open)
			open, code = m[1], nil
			continue
		}
		if m := regionEnd.FindStringSubmatch(line); m != nil {
			require.Equal(t, open, m[1], "%s:%d: region end does not match", name, i+1)
			_, dup := out[open]
			require.False(t, dup, "%s: region %s defined twice", name, open)
			out[open] = trimBlank(code)
			open = ""
			continue
		}
		if open != "" {
			code = append(code, line)
		}
	}
	require.Empty(t, open, "%s: region %s is not closed", name, open)
	return out
}

func trimBlank(lines []string) string {
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}

// firstDifference describes the first line where the guide's copy
// differs from the code.
func firstDifference(code, doc string) string {
	c, d := strings.Split(code, "\n"), strings.Split(doc, "\n")
	for i := 0; i < max(len(c), len(d)); i++ {
		var cl, dl string
		if i < len(c) {
			cl = c[i]
		}
		if i < len(d) {
			dl = d[i]
		}
		if cl != dl || i >= len(c) || i >= len(d) {
			return fmt.Sprintf("line %d of the listing:\n  code:  %q\n  guide: %q", i+1, cl, dl)
		}
	}
	return "(identical)"
}
