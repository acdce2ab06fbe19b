package revision

import (
	"path/filepath"
	"strconv"
	"strings"
)

// Kind is the content type of a managed file, decided by its name.
type Kind int

// The kinds of content paracfs validates. None is validated for size only.
const (
	None Kind = iota
	YAML
	JSON
	JSONL
)

// KindOf returns the kind of a file by the extension of its base name:
// .yaml and .yml are YAML, .json is JSON, .jsonl is JSONL, anything else is
// None. The extension is compared without regard to case.
func KindOf(name string) Kind {
	ext := filepath.Ext(filepath.Base(name))
	switch strings.ToLower(ext) {
	case ".yaml", ".yml":
		return YAML
	case ".json":
		return JSON
	case ".jsonl":
		return JSONL
	}
	return None
}

// String returns "none", "yaml", "json" or "jsonl".
func (k Kind) String() string {
	switch k {
	case None:
		return "none"
	case YAML:
		return "yaml"
	case JSON:
		return "json"
	case JSONL:
		return "jsonl"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}
