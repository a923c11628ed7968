package external

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestGLPKArgsFixedMPS: after free MPS failed, glpsol reads the model as
// fixed MPS; an LP model never switches.
func TestGLPKArgsFixedMPS(t *testing.T) {
	r := &runSpec{modelPath: "m.mps", solPath: "s", namesPath: "n", model: prepared{format: "mps", sense: Minimize}}
	tr := &tracker{}
	require.False(t, glpkFixedMPS(r, tr), "no read error: no second run")
	tr.readError = true
	require.True(t, glpkFixedMPS(r, tr))
	require.Equal(t, []string{"--mps", "m.mps", "-w", "s", "--wglp", "n"}, glpkArgs(r))
	require.False(t, glpkFixedMPS(r, tr), "fixed MPS is the last try")
	lp := &runSpec{model: prepared{format: "lp"}}
	require.False(t, glpkFixedMPS(lp, tr))
	require.Equal(t, time.Duration(0), glpkLimit(999*time.Millisecond))
	require.Equal(t, 2*time.Second, glpkLimit(2900*time.Millisecond))
}
