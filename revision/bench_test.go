package revision

import (
	"os"
	"sync"
	"testing"
)

func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// TestConcurrentUse runs the read-only API on shared Docs from many
// goroutines, for the race detector.
func TestConcurrentUse(t *testing.T) {
	old := mustParse(t, YAML, string(fixture(t, "current_state.yaml")))
	new := mustParse(t, YAML, "revision: 12\nbase: &b {x: 1}\nm: {<<: *b}\n")
	js := mustParse(t, JSON, string(fixture(t, "mcp_config.json")))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if len(Changes(old, new)) == 0 || len(Changes(js, nil)) != 1 {
					t.Error("no changes")
				}
				old.Stamped(13)
				Check(11, -1, old, true)
			}
		})
	}
	wg.Wait()
}

func BenchmarkParseYAML(b *testing.B) {
	data := fixture(b, "current_state.yaml")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(YAML, data, DefaultLimits()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseJSON(b *testing.B) {
	data := fixture(b, "mcp_config.json")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(JSON, data, DefaultLimits()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseJSONL(b *testing.B) {
	data := fixture(b, "state_changes.jsonl")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(JSONL, data, DefaultLimits()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStampAndChanges(b *testing.B) {
	data := fixture(b, "current_state.yaml")
	old, err := Parse(YAML, data, DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		out := old.Stamped(12)
		d, _ := Parse(YAML, out, DefaultLimits())
		Changes(old, d)
	}
}
