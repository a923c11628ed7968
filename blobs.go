package solvekit

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/job"
)

// BlobStore keeps the content of large execution files (those above
// Config.FileBlobThreshold) out of the execution's record in Redis: in an
// object store, a file system, or another Redis. The execution keeps only
// the blob's key, and the blob is deleted with the execution (Delete,
// DeleteFinishedBefore, retention) or when a file of the same name
// replaces it. The default (Config.Blobs nil) keeps blobs on the Service's
// own Redis. Implementations must be safe for concurrent use.
//
// Keys are made of an execution id, a file name and a random suffix
// ("<id>/<name>/<hex>"), so every Put is to a new key. An implementation
// that maps keys to paths should escape them (url.PathEscape), as the
// example does.
type BlobStore interface {
	// Put stores data under key.
	Put(ctx context.Context, key string, data []byte) error
	// Get returns the data stored under key, or an error that matches
	// job.ErrNotFound (errors.Is) when there is none.
	Get(ctx context.Context, key string) ([]byte, error)
	// Delete removes the blob under key; a missing blob is not an error.
	Delete(ctx context.Context, key string) error
}

// redisBlobs is the default BlobStore: plain string keys on the Service's
// Redis, under prefix.
type redisBlobs struct {
	rdb    redis.UniversalClient
	prefix string
}

func (b redisBlobs) Put(ctx context.Context, key string, data []byte) error {
	return b.rdb.Set(ctx, b.prefix+key, data, 0).Err()
}

func (b redisBlobs) Get(ctx context.Context, key string) ([]byte, error) {
	d, err := b.rdb.Get(ctx, b.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, job.Errorf(job.CodeNotFound, "blob %q not found", key)
	}
	return d, err
}

func (b redisBlobs) Delete(ctx context.Context, key string) error {
	return b.rdb.Del(ctx, b.prefix+key).Err()
}

// deleteExecution removes a finished execution (store.Delete) and then the
// blobs of its files. A blob left behind by a crash between the two is
// never read again; a blob store with its own expiry rule removes it.
func (s *Service) deleteExecution(ctx context.Context, id string) error {
	blobs, err := s.store.FileBlobs(ctx, id)
	if err != nil {
		return err
	}
	if err := s.store.Delete(ctx, id); err != nil {
		return err
	}
	s.deleteBlobs(ctx, blobs)
	return nil
}

// deleteBlobs deletes blobs no record names any more; a failure is logged
// (the blob is orphaned, not lost data).
func (s *Service) deleteBlobs(ctx context.Context, keys []string) {
	for _, k := range keys {
		if err := s.cfg.Blobs.Delete(ctx, k); err != nil {
			s.cfg.Logger.Warn("solvekit: could not delete a file's blob", "blob", k, "err", err)
		}
	}
}
