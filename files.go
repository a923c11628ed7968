package solvekit

import (
	"context"

	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

// FileUpload is a file to attach to an execution with AddFiles.
type FileUpload struct {
	// Name is the file's name (job.FileNamePattern); a file of that name
	// is replaced.
	Name string
	// ContentType is its media type. Default application/octet-stream.
	ContentType string
	// Data is its content.
	Data []byte
}

// AddFiles attaches files to an execution (reports, a solver's output) in
// one atomic step: all of them are stored, or none when a name is not
// allowed or the execution's files would pass maxTotal bytes in all (a
// CodeTooLarge error; 0 means 16 MiB). A file larger than
// Config.FileBlobThreshold goes to Config.Blobs, the rest is stored with
// the execution. Files are deleted with the execution. It returns the
// stored files' records.
func (s *Service) AddFiles(ctx context.Context, id string, files []FileUpload, maxTotal int64) ([]job.File, error) {
	recs := make([]*job.File, len(files))
	data := make([][]byte, len(files))
	var blobs []string
	for i, f := range files {
		recs[i] = &job.File{Name: f.Name, ContentType: f.ContentType}
		data[i] = f.Data
		if s.cfg.FileBlobThreshold >= 0 && int64(len(f.Data)) > s.cfg.FileBlobThreshold && job.FileNamePattern.MatchString(f.Name) {
			if blobs == nil {
				blobs = make([]string, len(files))
			}
			blobs[i] = id + "/" + f.Name + "/" + randHex(8)
		}
	}
	// The blobs are written first, so that a record never names a blob
	// that is not there; the ones a refused call wrote are deleted. They
	// are written for an existing execution only: the id is part of the key.
	if blobs != nil {
		if _, err := s.store.Get(ctx, id); err != nil {
			return nil, store.Classify(err)
		}
	}
	var written []string
	for i, k := range blobs {
		if k == "" {
			continue
		}
		if err := s.cfg.Blobs.Put(ctx, k, data[i]); err != nil {
			s.deleteBlobs(ctx, written)
			return nil, store.Classify(err)
		}
		written = append(written, k)
	}
	replaced, err := s.store.PutFiles(ctx, id, recs, data, blobs, maxTotal)
	if err != nil {
		s.deleteBlobs(ctx, written)
		return nil, store.Classify(err)
	}
	s.deleteBlobs(ctx, replaced)
	out := make([]job.File, len(recs))
	for i, f := range recs {
		out[i] = *f
	}
	return out, nil
}

// Files returns the records of an execution's files, sorted by name.
func (s *Service) Files(ctx context.Context, id string) ([]job.File, error) {
	fs, err := s.store.ListFiles(ctx, id)
	return fs, store.Classify(err)
}

// File returns one file of an execution with its content (read from
// Config.Blobs for a large one).
func (s *Service) File(ctx context.Context, id, name string) (*job.File, []byte, error) {
	f, data, blob, err := s.store.GetFile(ctx, id, name)
	if err == nil && blob != "" {
		data, err = s.cfg.Blobs.Get(ctx, blob)
	}
	return f, data, store.Classify(err)
}
