package external

import "time"

// WithSettle sets how long a solver that was told its limit may take past
// the deadline to stop on its own before it is interrupted (default 1 s);
// tests on a loaded machine give it more.
func WithSettle(d time.Duration) Option { return func(o *options) { o.settle = d } }
