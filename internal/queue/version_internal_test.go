package queue

import "testing"

func TestVersionFromPath(t *testing.T) {
	for in, want := range map[string]string{
		"/root/go/pkg/mod/github.com/hibiken/asynq@v0.26.0/client.go":              "v0.26.0",
		"github.com/hibiken/asynq@v0.26.0/client.go":                               "v0.26.0", // -trimpath
		"/m/github.com/hibiken/asynq@v0.27.1-0.20250101000000-0123456789ab/x/y.go": "v0.27.1-0.20250101000000-0123456789ab",
		"/src/app/vendor/github.com/hibiken/asynq/client.go":                       "",
		"/home/me/asynq/client.go":                                                 "",
		"":                                                                         "",
	} {
		if got := versionFromPath(in); got != want {
			t.Errorf("versionFromPath(%q) = %q, want %q", in, got, want)
		}
	}
}
