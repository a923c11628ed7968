package store

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/job"
)

// File is a file attached to an execution (see job.File).
type File = job.File

// DefaultMaxFilesBytes caps the total size of one execution's files when
// PutFiles is given no cap.
const DefaultMaxFilesBytes = 16 << 20

// putFilesScript stores files if the execution exists and the total
// stays within the cap: all of them or, past the cap, none. The files hash
// holds "d:<name>" (data) or "b:<name>" (the key of the blob holding the
// data, see PutFiles), "m:<name>" (metadata JSON), "s:<name>" (size) and
// "total". It answers {total, blob keys replaced...}, or {-1} when the
// execution is missing and {-2} past the cap.
// KEYS[1] meta, KEYS[2] files. ARGV[1] cap, then per file: name, "d" or
// "b", data or blob key, meta json, size.
var putFilesScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local total = tonumber(redis.call('HGET', KEYS[2], 'total') or '0')
local sizes = {}
for i = 2, #ARGV, 5 do
  local old = sizes[ARGV[i]]
  if old == nil then old = tonumber(redis.call('HGET', KEYS[2], 's:' .. ARGV[i]) or '0') end
  sizes[ARGV[i]] = tonumber(ARGV[i + 4])
  total = total - old + sizes[ARGV[i]]
end
if total > tonumber(ARGV[1]) then return {-2} end
local out = {total}
for i = 2, #ARGV, 5 do
  local name = ARGV[i]
  local blob = redis.call('HGET', KEYS[2], 'b:' .. name)
  if blob and blob ~= ARGV[i + 2] then out[#out + 1] = blob end
  if ARGV[i + 1] == 'b' then
    redis.call('HDEL', KEYS[2], 'd:' .. name)
  else
    redis.call('HDEL', KEYS[2], 'b:' .. name)
  end
  redis.call('HSET', KEYS[2], ARGV[i + 1] .. ':' .. name, ARGV[i + 2], 'm:' .. name, ARGV[i + 3], 's:' .. name, ARGV[i + 4])
end
redis.call('HSET', KEYS[2], 'total', total)
return out`)

// PutFiles stores (or replaces) files of execution id in one atomic step:
// all of them, or none when a name is not allowed or the total size of
// the execution's files would pass maxTotal (CodeTooLarge;
// DefaultMaxFilesBytes when 0). data[i] is the content of files[i]; a
// name given twice keeps the last content. When blobs[i] is not "" (blobs
// may be nil), the content is kept in a blob store under that key, which
// the caller has written: only the key is stored, and data[i] gives the
// size. It returns the blob keys of the files it replaced, for the caller
// to delete.
func (s *Store) PutFiles(ctx context.Context, id string, files []*File, data [][]byte, blobs []string, maxTotal int64) ([]string, error) {
	if len(files) != len(data) || (blobs != nil && len(blobs) != len(files)) {
		return nil, fmt.Errorf("store: put files: %d files, %d contents, %d blobs", len(files), len(data), len(blobs))
	}
	if len(files) == 0 {
		return nil, nil
	}
	if maxTotal <= 0 {
		maxTotal = DefaultMaxFilesBytes
	}
	args := make([]any, 0, 1+5*len(files))
	args = append(args, maxTotal)
	now := time.Now().UTC()
	for i, f := range files {
		if !job.FileNamePattern.MatchString(f.Name) {
			return nil, &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("file name %q is not allowed", f.Name),
				Violations: []job.Violation{{Pointer: "/name", Keyword: "pattern", Message: "use 1 to 128 letters, digits, '.', '_' or '-'"}}}
		}
		f.Size = int64(len(data[i]))
		if f.CreatedAt.IsZero() {
			f.CreatedAt = now
		}
		if f.ContentType == "" {
			f.ContentType = "application/octet-stream"
		}
		meta, _ := json.Marshal(f)
		if blobs != nil && blobs[i] != "" {
			args = append(args, f.Name, "b", blobs[i], meta, f.Size)
		} else {
			args = append(args, f.Name, "d", data[i], meta, f.Size)
		}
	}
	res, err := putFilesScript.Run(ctx, s.rdb, []string{s.k.meta(id), s.k.files(id)}, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("store: put files of %s: %w", id, err)
	}
	switch n, _ := res[0].(int64); n {
	case -1:
		return nil, notFound(id)
	case -2:
		return nil, &job.Error{Code: job.CodeTooLarge, Message: fmt.Sprintf("files of execution %q would exceed %d bytes", id, maxTotal)}
	}
	var replaced []string
	for _, v := range res[1:] {
		if k, ok := v.(string); ok {
			replaced = append(replaced, k)
		}
	}
	return replaced, nil
}

// FileBlobs returns the blob keys of an execution's files kept in a blob
// store (see PutFiles), so that they can be deleted with it.
func (s *Store) FileBlobs(ctx context.Context, id string) ([]string, error) {
	vals, err := s.filesFields(ctx, id, "b:")
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		if v != "" {
			out = append(out, v)
		}
	}
	return out, nil
}

// filesFields returns the values of the fields of an execution's files
// hash whose names start with prefix ("m:" metadata, "b:" blob keys).
func (s *Store) filesFields(ctx context.Context, id, prefix string) ([]string, error) {
	keys, err := s.rdb.HKeys(ctx, s.k.files(id)).Result()
	if err != nil {
		return nil, err
	}
	var fields []string
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			fields = append(fields, k)
		}
	}
	if len(fields) == 0 {
		return nil, nil
	}
	vals, err := s.rdb.HMGet(ctx, s.k.files(id), fields...).Result()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i], _ = v.(string)
	}
	return out, nil
}

// ListFiles returns the files of an execution sorted by name.
func (s *Store) ListFiles(ctx context.Context, id string) ([]File, error) {
	if _, err := s.Get(ctx, id); err != nil {
		return nil, err
	}
	vals, err := s.filesFields(ctx, id, "m:")
	if err != nil {
		return nil, err
	}
	out := []File{}
	for _, str := range vals {
		var f File
		if json.Unmarshal([]byte(str), &f) == nil {
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// GetFile returns one file of an execution with its data, or with the
// key of the blob that holds its data (see PutFiles) and no data.
func (s *Store) GetFile(ctx context.Context, id, name string) (f *File, data []byte, blob string, err error) {
	missing := &job.Error{Code: job.CodeNotFound, Message: fmt.Sprintf("execution %q has no file %q", id, name)}
	if !job.FileNamePattern.MatchString(name) {
		return nil, nil, "", missing
	}
	vals, err := s.rdb.HMGet(ctx, s.k.files(id), "m:"+name, "d:"+name, "b:"+name).Result()
	if err != nil {
		return nil, nil, "", err
	}
	m, _ := vals[0].(string)
	d, _ := vals[1].(string)
	blob, _ = vals[2].(string)
	if m == "" {
		if _, err := s.Get(ctx, id); err != nil {
			return nil, nil, "", err
		}
		return nil, nil, "", missing
	}
	f = &File{}
	if err := json.Unmarshal([]byte(m), f); err != nil {
		return nil, nil, "", err
	}
	return f, []byte(d), blob, nil
}

// Labels are the human-editable fields of an execution record. A nil
// field is left unchanged.
type Labels struct {
	Name     *string
	Metadata map[string]string
	// SetMetadata replaces the metadata with Metadata (which may be empty).
	SetMetadata bool
}

// UpdateLabels changes the name and metadata of an execution, with the
// metadata's label index entries in the same script, and returns the
// updated record.
func (s *Store) UpdateLabels(ctx context.Context, id string, l Labels) (*job.Execution, error) {
	argv := []any{id, ""}
	if l.SetMetadata {
		if err := checkLabels(l.Metadata); err != nil {
			return nil, err
		}
		b, _ := json.Marshal(l.Metadata)
		if len(l.Metadata) == 0 {
			b = []byte("{}")
		}
		argv[1] = b
	}
	if l.Name != nil {
		argv = append(argv, "name", *l.Name)
	}
	if len(argv) > 2 || l.SetMetadata {
		n, err := labelsScript.Run(ctx, s.rdb, []string{s.k.meta(id), s.k.ixState(job.StateSucceeded)}, argv...).Int()
		if err != nil {
			return nil, fmt.Errorf("store: update %s: %w", id, err)
		}
		if n == 0 {
			return nil, notFound(id)
		}
	}
	return s.Get(ctx, id)
}

// setIfExists sets hash fields only when the hash exists, so a record
// deleted meanwhile is not resurrected as a partial hash.
var setIfExists = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1`)

// SetJobKey stores the SHA-256 hash of an execution's job key in its
// record (deleted with it).
func (s *Store) SetJobKey(ctx context.Context, id, secret string) error {
	n, err := setIfExists.Run(ctx, s.rdb, []string{s.k.meta(id)}, jobKeyField, hashKey(secret)).Int()

	if err != nil {
		return fmt.Errorf("store: set job key %s: %w", id, err)
	}
	if n == 0 {
		return notFound(id)
	}
	return nil
}

// CheckJobKey reports whether secret is the job key of execution id,
// comparing hashes in constant time. A record written before the hash was
// stored in binary holds it in hex under legacyJobKeyField.
func (s *Store) CheckJobKey(ctx context.Context, id, secret string) (bool, error) {
	vals, err := s.rdb.HMGet(ctx, s.k.meta(id), jobKeyField, legacyJobKeyField).Result()
	if err != nil {
		return false, err
	}
	want := hashKey(secret)
	if h, ok := vals[0].(string); ok {
		return subtle.ConstantTimeCompare([]byte(h), []byte(want)) == 1, nil
	}
	if h, ok := vals[1].(string); ok {
		return subtle.ConstantTimeCompare([]byte(h), []byte(hex.EncodeToString([]byte(want)))) == 1, nil
	}
	return false, nil
}

// jobKeyField is the record's field holding its job key's SHA-256, raw
// (32 bytes: the field and its value cost 44 bytes less per execution than
// the hex digest under the name legacyJobKeyField did).
const jobKeyField = "jk"

// legacyJobKeyField held the hex SHA-256 of the job key in records
// written by earlier releases; CheckJobKey still reads it.
const legacyJobKeyField = "job_key_sha256"

// hashKey is the stored form of a job key: its SHA-256, raw.
func hashKey(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return string(h[:])
}
