package api

// Tag is a tag and how many records carry it (GET /tags, POST /tags).
type Tag struct {
	Name string `json:"name"`
	// Executions and Instances count the records carrying the tag.
	Executions int64 `json:"executions"`
	Instances  int64 `json:"instances"`
	// JobTypes names the job types carrying it (set in code, job.WithTags).
	JobTypes []string `json:"job_types"`
}

// TagList is a page of tags, by name.
type TagList struct {
	Tags []*Tag `json:"tags"`
	// NextPageToken reads the next page (?page_token=); absent on the last.
	NextPageToken string `json:"next_page_token,omitempty"`
}

// TaggedItem is a record carrying a tag.
type TaggedItem struct {
	// Kind is "execution" or "instance".
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// TagDetail is the answer of GET /tags/{tag}: the tag's counts and job
// types, and a page of the records carrying it, executions newest first,
// then instances newest first.
type TagDetail struct {
	Tag
	Items []TaggedItem `json:"items"`
	// NextPageToken reads the next page of items; absent on the last.
	NextPageToken string `json:"next_page_token,omitempty"`
}

// TagAttach is the body of POST /tags: the tag to add to every execution
// and instance named (at most 1000 in all). Every record must exist and be
// yours to change, or nothing changes.
type TagAttach struct {
	Tag          string   `json:"tag" validate:"required,max=64"`
	ExecutionIDs []string `json:"execution_ids,omitempty" validate:"max=1000,dive,min=1,max=64"`
	InstanceIDs  []string `json:"instance_ids,omitempty" validate:"max=1000,dive,min=1,max=64"`
}

// TagRemoval is the answer of DELETE /tags/{tag}: how many records the
// tag was removed from.
type TagRemoval struct {
	Executions int `json:"executions"`
	Instances  int `json:"instances"`
}
