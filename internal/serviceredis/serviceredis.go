// Package serviceredis hands a Service's Redis client and key prefix to
// solvekit's own packages that keep data of their own beside the engine's
// (the REST layer's user store), without making the client public API of
// the Service. The root package sets Of when it loads.
package serviceredis

import "github.com/redis/go-redis/v9"

// Of returns the Redis client and key prefix of svc, a *solvekit.Service.
var Of func(svc any) (rdb redis.UniversalClient, prefix string)
