package job_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
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
			_, got := violationKeywords(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestValidateMessagesKeepSecrets: a violation quotes the value it
// refused, cut to 64 bytes, but never a password's, a secret's or a
// token's.
func TestValidateMessagesKeepSecrets(t *testing.T) {
	in := struct {
		Login    string `json:"login" validate:"max=3"`
		Password string `json:"password" validate:"min=8"`
		APIKey   string `json:"client_secret" validate:"min=8"`
		Token    string `json:"tok" validate:"min=8"`
		Long     string `json:"long" validate:"max=3"`
	}{Login: "alice", Password: "hunter2", APIKey: "s3cr3t", Token: "abc", Long: strings.Repeat("x", 500)}
	err := job.Validate(in)
	var je *job.Error
	require.ErrorAs(t, err, &je)
	got := map[string]string{}
	for _, v := range je.Violations {
		got[v.Pointer] = v.Message
	}
	require.Equal(t, "failed max=3 (value alice)", got["/login"])
	require.Equal(t, "failed min=8", got["/password"])
	require.Equal(t, "failed min=8", got["/client_secret"])
	require.Equal(t, "failed min=8", got["/tok"], "the Go name says it is a token")
	require.Equal(t, "failed max=3 (value "+strings.Repeat("x", 64)+"…)", got["/long"])
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

// TestTypedInputIsCheckedBeforeTheJob: a typed definition checks an
// instance as its job will read it (ValidateInput): tag violations and
// values of the wrong type come back as CodeInvalid with pointers into
// the instance. Inside the job, the same error is a Failure (never
// retried), still matching ErrInvalid.
func TestTypedInputIsCheckedBeforeTheJob(t *testing.T) {
	ran := false
	d := job.AsyncOf("typed", func(ctx context.Context, jc *job.Context, in instance) (int, error) {
		ran = true
		return 0, nil
	})
	for _, tt := range []struct {
		doc  string
		want map[string]string // pointer → keyword; nil: valid
	}{
		{`{"capacity":3,"items":[{"name":"x","weight":2}]}`, nil},
		{`{"capacity":3,"items":[]}`, map[string]string{"/items": "min"}},
		{`{"capacity":3,"items":[{"name":"x","weight":2},{"name":"","weight":0}]}`,
			map[string]string{"/items/1/name": "required", "/items/1/weight": "gt"}},
		{`{"capacity":3,"items":[{"name":"x","weight":2},{"name":"y","weight":"heavy"}]}`, map[string]string{"/items/1/weight": "type"}},
		{`{"capacity":3,"items":{"name":"x"}}`, map[string]string{"/items": "type"}},
		{`{"capacity":"x"}`, map[string]string{"/capacity": "type"}},
		{`{"a/b":7}`, map[string]string{"/a~1b": "type"}},
		{`[1,2]`, map[string]string{"": "type"}},
	} {
		err := d.ValidateInput(json.RawMessage(tt.doc))
		if tt.want == nil {
			require.NoError(t, err, tt.doc)
			continue
		}
		je, got := violationKeywords(t, err, tt.doc)
		require.Equal(t, tt.want, got, tt.doc)

		_, err = d.Func(context.Background(), &job.Context{Instance: json.RawMessage(tt.doc)})
		var f *job.Failure
		require.ErrorAs(t, err, &f, "a decode error in the job is a failure, not retried: %s", tt.doc)
		require.ErrorIs(t, err, job.ErrInvalid)
		require.Equal(t, f.Err, error(je), "the failure wraps the violations")
	}
	require.False(t, ran)
	untyped := job.Async("untyped", func(context.Context, *job.Context) (any, error) { return nil, nil })
	require.NoError(t, untyped.ValidateInput(json.RawMessage(`[]`)))
}

// violationKeywords requires err to be an invalid-input job.Error whose
// violations each have a message, and returns it and their keywords by
// pointer.
func violationKeywords(t *testing.T, err error, msgAndArgs ...any) (*job.Error, map[string]string) {
	t.Helper()
	var je *job.Error
	require.ErrorAs(t, err, &je, msgAndArgs...)
	require.Equal(t, job.CodeInvalid, je.Code, msgAndArgs...)
	got := map[string]string{}
	for _, v := range je.Violations {
		got[v.Pointer] = v.Keyword
		require.NotEmpty(t, v.Message, msgAndArgs...)
	}
	return je, got
}
