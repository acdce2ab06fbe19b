package backing

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/sys/unix"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/paracfs/paracfs/revision"
)

// checkRules is the part of validation the config file adds: a write to
// the config file (or to a schema it names) must leave a configuration
// that loads, and a file that matches rules must have their required keys
// and match their schemas. The error is the refusal's reason.
func (d *Dir) checkRules(rel string, doc *revision.Doc) error {
	cfg := d.Config()
	if err := d.checkConfigWrite(cfg, rel, doc.Data); err != nil {
		return err
	}
	if rel == ConfigFile {
		return nil // the rules are for the project's files, not for the config file
	}
	for _, r := range cfg.Rules {
		if !matchGlob(r.Glob, rel) || (len(r.Required) == 0 && r.schema == nil) {
			continue
		}
		where := fmt.Sprintf("rule %q at %s line %d", r.Glob, ConfigFile, r.Line)
		if doc.Kind != revision.YAML && doc.Kind != revision.JSON {
			continue // Markdown and JSONL have no keys to check
		}
		if len(r.Required) > 0 {
			if !doc.IsMap() {
				return fmt.Errorf("want a mapping with the keys %s (%s)", strings.Join(r.Required, ", "), where)
			}
			keys := doc.Keys()
			var missing []string
			for _, k := range r.Required {
				if !contains(keys, k) {
					missing = append(missing, k)
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("missing required key%s %s (%s)", plural(len(missing)), strings.Join(missing, ", "), where)
			}
		}
		if r.schema != nil {
			v, err := doc.Value()
			if err != nil {
				return err
			}
			if err := r.schema.Validate(v); err != nil {
				return fmt.Errorf("does not match the schema %s (%s): %s", r.Schema, where, schemaReason(err))
			}
		}
	}
	return nil
}

// stampsRevision reports whether a rule says rel carries a revision field.
func (c Config) stampsRevision(rel string) bool {
	for _, r := range c.Rules {
		if r.StampRevision && matchGlob(r.Glob, rel) {
			return true
		}
	}
	return false
}

// dependsOn reports whether the configuration is read from rel: the config
// file itself, or a schema file it names (or that one of them refers to).
func (c Config) dependsOn(rel string) bool {
	return rel == ConfigFile || contains(c.schemaFiles, rel)
}

// schemaURL names a file of DIR for the JSON Schema compiler. Schemas that
// refer to each other by relative references resolve within DIR.
func schemaURL(rel string) string { return "file:///" + rel }

// schemaLoader reads schema files from DIR through its descriptor (never
// by path: DIR is mounted over), or from override for a schema being
// committed. It records every file it read.
type schemaLoader struct {
	d        *Dir
	override map[string][]byte
	read     []string
}

func (l *schemaLoader) Load(u string) (any, error) {
	pu, err := url.Parse(u)
	if err != nil || pu.Scheme != "file" {
		return nil, fmt.Errorf("%s: only schema files inside DIR can be referred to", u)
	}
	rel, err := insideDir(strings.TrimPrefix(pu.Path, "/"))
	if err != nil {
		return nil, err
	}
	data, ok := l.override[rel]
	if !ok {
		if data, err = l.d.readConfigFile(rel); err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
	}
	if !contains(l.read, rel) {
		l.read = append(l.read, rel)
	}
	kind := revision.KindOf(rel)
	if kind == revision.YAML {
		doc, err := revision.Parse(kind, data, l.d.Config().Limits)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		return doc.Value()
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: not JSON: %w", rel, err)
	}
	return v, nil
}

// compileSchemas compiles the schema of every rule that names one.
func (d *Dir) compileSchemas(file string, cfg *Config, override map[string][]byte) error {
	l := &schemaLoader{d: d, override: override}
	c := jsonschema.NewCompiler()
	c.UseLoader(l)
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		if r.Schema == "" {
			continue
		}
		s, err := c.Compile(schemaURL(r.Schema))
		if err != nil {
			return &ConfigError{File: file, Line: r.Line, Key: fmt.Sprintf("%s[%d].schema", SetRules, i+1),
				Msg: "cannot load the schema " + r.Schema + ": " + compileReason(err)}
		}
		r.schema = s
	}
	cfg.schemaFiles = l.read
	return nil
}

// compileReason sums up why a schema does not compile, in one line.
func compileReason(err error) string {
	var se *jsonschema.SchemaValidationError
	if errors.As(err, &se) {
		return "not a valid JSON Schema: " + schemaReason(se.Err)
	}
	var le *jsonschema.LoadURLError
	if errors.As(err, &le) && errors.Is(le.Err, unix.ENOENT) {
		return "no such file in DIR" // the loader's own words name the file a second time
	}
	msg := strings.ReplaceAll(err.Error(), schemaURL(""), "")
	return strings.Join(strings.Fields(msg), " ")
}

// printer words validation errors; made on first use.
var printer = sync.OnceValue(func() *message.Printer { return message.NewPrinter(language.English) })

// schemaReason sums up a schema validation error in one line: where in
// the document, and what is wrong, for the first few causes.
func schemaReason(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	var leaves []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			leaves = append(leaves, fmt.Sprintf("at '/%s': %s", strings.Join(e.InstanceLocation, "/"), e.ErrorKind.LocalizedString(printer())))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	if len(leaves) > 3 {
		leaves = append(leaves[:3], fmt.Sprintf("and %d more", len(leaves)-3))
	}
	return strings.Join(leaves, "; ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
