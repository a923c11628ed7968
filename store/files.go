package store

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/job"
)

// File is a file attached to an execution (a report, a solver's output),
// kept in Redis beside the record and deleted with it.
type File struct {
	Name        string    `json:"name"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	CreatedAt   time.Time `json:"created_at"`
}

// FileNamePattern is what an execution file name may look like.
var FileNamePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// DefaultMaxFilesBytes caps the total size of one execution's files when
// PutFile is given no cap.
const DefaultMaxFilesBytes = 16 << 20

// putFileScript stores one file if the execution exists and the total
// stays within the cap. The files hash holds "d:<name>" (data), "m:<name>"
// (metadata JSON), "s:<name>" (size) and "total".
// KEYS[1] meta, KEYS[2] files. ARGV[1] name, ARGV[2] data, ARGV[3] meta
// json, ARGV[4] size, ARGV[5] cap.
var putFileScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local old = tonumber(redis.call('HGET', KEYS[2], 's:' .. ARGV[1]) or '0')
local total = tonumber(redis.call('HGET', KEYS[2], 'total') or '0')
local nt = total - old + tonumber(ARGV[4])
if nt > tonumber(ARGV[5]) then return -2 end
redis.call('HSET', KEYS[2], 'd:' .. ARGV[1], ARGV[2], 'm:' .. ARGV[1], ARGV[3], 's:' .. ARGV[1], ARGV[4], 'total', nt)
return nt`)

// PutFile stores (or replaces) a file of execution id. The total size of
// the execution's files may not pass maxTotal bytes (DefaultMaxFilesBytes
// when 0): past it the error has CodeTooLarge.
func (s *Store) PutFile(ctx context.Context, id string, f *File, data []byte, maxTotal int64) error {
	if !FileNamePattern.MatchString(f.Name) {
		return &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("file name %q is not allowed", f.Name),
			Violations: []job.Violation{{Pointer: "/name", Keyword: "pattern", Message: "use 1 to 128 letters, digits, '.', '_' or '-'"}}}
	}
	if maxTotal <= 0 {
		maxTotal = DefaultMaxFilesBytes
	}
	f.Size = int64(len(data))
	if f.CreatedAt.IsZero() {
		f.CreatedAt = time.Now().UTC()
	}
	if f.ContentType == "" {
		f.ContentType = "application/octet-stream"
	}
	meta, _ := json.Marshal(f)
	n, err := putFileScript.Run(ctx, s.rdb, []string{s.k.meta(id), s.k.files(id)},
		f.Name, data, meta, f.Size, maxTotal).Int64()
	if err != nil {
		return fmt.Errorf("store: put file %s/%s: %w", id, f.Name, err)
	}
	switch n {
	case -1:
		return notFound(id)
	case -2:
		return &job.Error{Code: job.CodeTooLarge, Message: fmt.Sprintf("files of execution %q would exceed %d bytes", id, maxTotal)}
	}
	return nil
}

// ListFiles returns the files of an execution sorted by name.
func (s *Store) ListFiles(ctx context.Context, id string) ([]File, error) {
	if _, err := s.Get(ctx, id); err != nil {
		return nil, err
	}
	keys, err := s.rdb.HKeys(ctx, s.k.files(id)).Result()
	if err != nil {
		return nil, err
	}
	var metaKeys []string
	for _, k := range keys {
		if strings.HasPrefix(k, "m:") {
			metaKeys = append(metaKeys, k)
		}
	}
	out := []File{}
	if len(metaKeys) == 0 {
		return out, nil
	}
	vals, err := s.rdb.HMGet(ctx, s.k.files(id), metaKeys...).Result()
	if err != nil {
		return nil, err
	}
	for _, v := range vals {
		str, _ := v.(string)
		var f File
		if json.Unmarshal([]byte(str), &f) == nil {
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// GetFile returns one file of an execution with its data.
func (s *Store) GetFile(ctx context.Context, id, name string) (*File, []byte, error) {
	missing := &job.Error{Code: job.CodeNotFound, Message: fmt.Sprintf("execution %q has no file %q", id, name)}
	if !FileNamePattern.MatchString(name) {
		return nil, nil, missing
	}
	vals, err := s.rdb.HMGet(ctx, s.k.files(id), "m:"+name, "d:"+name).Result()
	if err != nil {
		return nil, nil, err
	}
	m, _ := vals[0].(string)
	d, _ := vals[1].(string)
	if m == "" {
		if _, err := s.Get(ctx, id); err != nil {
			return nil, nil, err
		}
		return nil, nil, missing
	}
	var f File
	if err := json.Unmarshal([]byte(m), &f); err != nil {
		return nil, nil, err
	}
	return &f, []byte(d), nil
}

// Labels are the human-editable fields of an execution record. A nil
// field is left unchanged.
type Labels struct {
	Name     *string
	Metadata map[string]string
	// SetMetadata replaces the metadata with Metadata (which may be empty).
	SetMetadata bool
}

// UpdateLabels changes the name and metadata of an execution (fields that
// no index covers, so a plain hash write is atomic enough) and returns the
// updated record.
func (s *Store) UpdateLabels(ctx context.Context, id string, l Labels) (*job.Execution, error) {
	var argv []any
	if l.Name != nil {
		argv = append(argv, "name", *l.Name)
	}
	if l.SetMetadata {
		b, _ := json.Marshal(l.Metadata)
		if len(l.Metadata) == 0 {
			b = []byte("{}")
		}
		argv = append(argv, "metadata", b)
	}
	if len(argv) > 0 {
		n, err := setIfExists.Run(ctx, s.rdb, []string{s.k.meta(id)}, argv...).Int()
		if err != nil {
			return nil, fmt.Errorf("store: update %s: %w", id, err)
		}
		if n == 0 {
			return nil, notFound(id)
		}
	}
	return s.Get(ctx, id)
}
