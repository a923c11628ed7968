package patience

import (
	"testing"
	"time"
)

func TestScale(t *testing.T) {
	for env, want := range map[string]float64{"": 5, "x": 5, "0.5": 5, "1": 1, "12": 12, "2.5": 2.5} {
		if got := factor(env); got != want {
			t.Errorf("factor(%q) = %v, want %v", env, got, want)
		}
	}
	if got := Scale(2 * time.Second); got != time.Duration(2*Factor*float64(time.Second)) {
		t.Errorf("Scale(2s) = %v with Factor %v", got, Factor)
	}
}
