package redistest

import "context"

var bgctx = context.Background()
