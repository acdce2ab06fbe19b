package revision

import "testing"

func TestKindOf(t *testing.T) {
	tests := []struct {
		name string
		want Kind
	}{
		{"current_state.yaml", YAML},
		{"memory/context/current_state.yaml", YAML},
		{"roadmap.yml", YAML},
		{"CONFIG.YAML", YAML},
		{"mcp_config.json", JSON},
		{"state_changes.jsonl", JSONL},
		{"architecture.md", None},
		{"x.yaml.tmp", None},
		{"x.yaml.lock", None},
		{"x.yaml~", None},
		{".x.yaml.swp", None},
		{"4913", None},
		{"dir.yaml/file", None},
		{"", None},
		{".json", JSON},
	}
	for _, tt := range tests {
		if got := KindOf(tt.name); got != tt.want {
			t.Errorf("KindOf(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{None: "none", YAML: "yaml", JSON: "json", JSONL: "jsonl", Kind(9): "Kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}
