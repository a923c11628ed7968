package job_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/job"
)

type item struct {
	Name   string `json:"name" validate:"required"`
	Weight int    `json:"weight" validate:"gt=0"`
}

type instance struct {
	Capacity int    `json:"capacity" validate:"gte=0"`
	Items    []item `json:"items" validate:"min=1,dive"`
	Path     string `json:"a/b,omitempty" validate:"omitempty,max=2"`
}

func TestValidatePointers(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want map[string]string // pointer → keyword
	}{
		{"ok", instance{Capacity: 1, Items: []item{{"a", 1}}}, nil},
		{"nested", &instance{Capacity: -1, Items: []item{{"a", 1}, {"", 0}}}, map[string]string{
			"/capacity": "gte", "/items/1/name": "required", "/items/1/weight": "gt"}},
		{"empty slice", instance{}, map[string]string{"/items": "min"}},
		{"escaped name", instance{Items: []item{{"a", 1}}, Path: "long"}, map[string]string{"/a~1b": "max"}},
		{"anonymous", struct {
			Msg string `json:"msg" validate:"required"`
		}{}, map[string]string{"/msg": "required"}},
		{"not a struct", 3, nil},
		{"nil pointer", (*instance)(nil), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := job.Validate(tt.in)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, job.ErrInvalid)
			var je *job.Error
			require.ErrorAs(t, err, &je)
			got := map[string]string{}
			for _, v := range je.Violations {
				got[v.Pointer] = v.Keyword
				require.NotEmpty(t, v.Message)
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestTypedJobDecodes(t *testing.T) {
	var seen instance
	d := job.AsyncOf("typed", func(ctx context.Context, jc *job.Context, in instance) (map[string]int, error) {
		seen = in
		return map[string]int{"n": len(in.Items)}, nil
	})
	require.NoError(t, d.Err())
	require.Equal(t, job.KindAsync, d.Kind)
	out, err := d.Func(context.Background(), &job.Context{Instance: json.RawMessage(`{"capacity":3,"items":[{"name":"x","weight":2}]}`)})
	require.NoError(t, err)
	require.Equal(t, map[string]int{"n": 1}, out)
	require.Equal(t, 3, seen.Capacity)

	_, err = d.Func(context.Background(), &job.Context{Instance: json.RawMessage(`{"capacity":3,"items":[{"name":"","weight":2}]}`)})
	var je *job.Error
	require.ErrorAs(t, err, &je)
	require.Equal(t, "/items/0/name", je.Violations[0].Pointer)

	_, err = d.Func(context.Background(), &job.Context{Instance: json.RawMessage(`{"capacity":"x"}`)})
	require.ErrorIs(t, err, job.ErrInvalid)
}

func TestOptions(t *testing.T) {
	fsys := fstest.MapFS{"s/in.json": {Data: []byte(`{"type":"object"}`)}}
	d := job.Sync("s", func(context.Context, *job.Context) (any, error) { return nil, nil },
		job.WithDescription("d"), job.WithQueue("q"), job.WithTimeout(time.Second), job.WithMaxRetries(job.NoRetries),
		job.WithSchemasFS(fsys, "s/in.json", "", ""), job.WithSolvers("a", "a", "b"))
	require.NoError(t, d.Err())
	require.Equal(t, "q", d.QueueName())
	require.Equal(t, 0, d.Retries())
	require.JSONEq(t, `{"type":"object"}`, string(d.InstanceSchema))
	require.Nil(t, d.ConfigSchema)
	require.Equal(t, []string{"a", "b"}, d.Solvers)

	d = job.Async("x", func(context.Context, *job.Context) (any, error) { return nil, nil },
		job.WithSchemasFS(fsys, "missing.json", "", ""))
	require.ErrorContains(t, d.Err(), "missing.json")
	require.Equal(t, 3, d.Retries(), "default retries")
	require.Equal(t, "default", d.QueueName())
	require.Error(t, job.Async("nil", nil).Err())
}

type recorder struct {
	progress []float64
	incs     []string
	refuse   bool
}

func (r *recorder) Progress(f float64, _ string) { r.progress = append(r.progress, f) }
func (r *recorder) Incumbent(sol json.RawMessage, _ *float64) error {
	if r.refuse {
		return errors.New("refused")
	}
	r.incs = append(r.incs, string(sol))
	return nil
}

func TestContextReporting(t *testing.T) {
	r := &recorder{}
	jc := &job.Context{Reporter: r}
	jc.Progress(-1, "")
	jc.Progress(2, "")
	require.Equal(t, []float64{0, 1}, r.progress)
	require.NoError(t, jc.Incumbent(map[string]int{"v": 1}, 1))
	sol, obj := jc.LastIncumbent()
	require.JSONEq(t, `{"v":1}`, string(sol))
	require.Equal(t, 1.0, *obj)
	r.refuse = true
	require.Error(t, jc.Incumbent(map[string]int{"v": 2}, 2))
	sol, _ = jc.LastIncumbent()
	require.JSONEq(t, `{"v":1}`, string(sol), "a refused incumbent is not kept")
	require.Error(t, jc.Incumbent(func() {}, 0), "unencodable")
	require.NotNil(t, jc.Log())
	ctx := job.WithContext(context.Background(), jc)
	require.Same(t, jc, job.FromContext(ctx))
}

func TestErrors(t *testing.T) {
	err := &job.Error{Code: job.CodeInvalid, Message: "instance is invalid",
		Violations: []job.Violation{{Pointer: "/a", Message: "bad"}, {Pointer: "", Message: "worse"}}}
	require.Equal(t, "instance is invalid: /a: bad; /: worse", err.Error())
	require.ErrorIs(t, err, job.ErrInvalid)
	require.NotErrorIs(t, err, job.ErrNotFound)
	require.Equal(t, job.CodeInvalid, job.ErrorCode(errors.Join(errors.New("x"), err)))
	require.Equal(t, job.CodeInternal, job.ErrorCode(errors.New("x")))
	var f *job.Failure
	require.ErrorAs(t, job.Fail("nope", 1), &f)
	require.Equal(t, 1, f.Details)
	require.True(t, job.StateStopped.Terminal())
	require.False(t, job.StateRunning.Terminal())
	require.True(t, job.StateQueued.Valid())
	require.False(t, job.State("lost").Valid())
}

func TestFailWithUnwraps(t *testing.T) {
	base := errors.New("binary missing")
	err := job.FailWith(base, map[string]string{"package": "coinor-cbc"})
	require.ErrorIs(t, err, base)
	var f *job.Failure
	require.ErrorAs(t, err, &f)
	require.Equal(t, "binary missing", f.Message)
	require.NoError(t, job.FailWith(nil, nil))
	d := job.Async("x", func(context.Context, *job.Context) (any, error) { return nil, nil }, job.WithError(base))
	require.ErrorIs(t, d.Err(), base)
}
