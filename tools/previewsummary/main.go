// Command previewsummary turns a Pulumi preview into the Markdown summary a reviewer wants on a pull
// request: the counts, replacements and deletions first, policy violations, then changes per resource type.
//
// The `pulumi preview --json` digest (display.PreviewDigest) carries no policy events, so the violations come
// from engine events (apitype.EngineEvent, one per line): either streamed on stdout with
// PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true, or written by --event-log (a debug flag, needs
// PULUMI_DEBUG_COMMANDS=true). Steps come from the digest when given, else from the events.
//
//	PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true pulumi preview -s prod --json \
//	    --policy-pack bin/ordermesh-policies > events.json
//	previewsummary -stack prod -events events.json >> "$GITHUB_STEP_SUMMARY"
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

func main() {
	stack := flag.String("stack", "", "stack name for the heading")
	preview := flag.String("preview", "", "file with the `pulumi preview --json` digest")
	events := flag.String("events", "", "file with engine events, one JSON object per line (streamed --json or --event-log)")
	out := flag.String("o", "", "write the Markdown here instead of stdout")
	flag.Parse()
	if err := run(*stack, *preview, *events, *out); err != nil {
		fmt.Fprintf(os.Stderr, "previewsummary: %v\n", err)
		os.Exit(1)
	}
}

func run(stack, previewPath, eventsPath, outPath string) error {
	if previewPath == "" && eventsPath == "" {
		return errors.New("give -preview, -events or both")
	}
	var s Summary
	s.Stack = stack
	if previewPath != "" {
		f, err := os.Open(previewPath)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := s.ReadPreview(f); err != nil {
			return fmt.Errorf("%s: %w", previewPath, err)
		}
	}
	if eventsPath != "" {
		f, err := os.Open(eventsPath)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := s.ReadEvents(f, previewPath == ""); err != nil {
			return fmt.Errorf("%s: %w", eventsPath, err)
		}
	}
	w := io.Writer(os.Stdout)
	if outPath != "" {
		f, err := os.Create(outPath)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	_, err := io.WriteString(w, s.Markdown())
	return err
}

// previewDigest declares the fields of pkg/v3/display.PreviewDigest this command reads (importing pkg/v3
// would pull the whole engine into the build).
type previewDigest struct {
	Steps []struct {
		Op             string                 `json:"op"`
		URN            string                 `json:"urn"`
		OldState       *struct{ Type string } `json:"oldState"`
		NewState       *struct{ Type string } `json:"newState"`
		DiffReasons    []string               `json:"diffReasons"`
		ReplaceReasons []string               `json:"replaceReasons"`
	} `json:"steps"`
	Diagnostics []struct {
		URN      string `json:"urn"`
		Message  string `json:"message"`
		Severity string `json:"severity"`
	} `json:"diagnostics"`
}

// Step is one resource operation.
type Step struct {
	Op      string // normalized: create, update, replace, delete, same, read, import, refresh
	Type    string
	Name    string
	URN     string
	Reasons []string // replacement or diff keys
}

// Violation is one policy finding.
type Violation struct {
	Level   string // mandatory, advisory, ...
	Policy  string
	Pack    string
	URN     string
	Message string
}

// Summary accumulates a preview.
type Summary struct {
	Stack      string
	Steps      []Step
	Violations []Violation
	Errors     []string
}

// ReadPreview reads a `pulumi preview --json` digest.
func (s *Summary) ReadPreview(r io.Reader) error {
	var d previewDigest
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return fmt.Errorf("decoding preview JSON: %w", err)
	}
	for _, st := range d.Steps {
		typ := ""
		if st.NewState != nil {
			typ = st.NewState.Type
		} else if st.OldState != nil {
			typ = st.OldState.Type
		}
		reasons := st.ReplaceReasons
		if len(reasons) == 0 {
			reasons = st.DiffReasons
		}
		s.addStep(st.Op, st.URN, typ, reasons)
	}
	for _, diag := range d.Diagnostics {
		if diag.Severity == "error" {
			s.Errors = append(s.Errors, strings.TrimSpace(diag.Message))
		}
	}
	return nil
}

// ReadEvents reads an event log (one apitype.EngineEvent per line): policy violations always, steps only
// when withSteps is set (no JSON digest given).
func (s *Summary) ReadEvents(r io.Reader, withSteps bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	seen := map[string]bool{}
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var e apitype.EngineEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		switch {
		case e.PolicyEvent != nil:
			p := e.PolicyEvent
			s.Violations = append(s.Violations, Violation{
				Level: p.EnforcementLevel, Policy: p.PolicyName, Pack: p.PolicyPackName,
				URN: p.ResourceURN, Message: trimDescription(p.Message, p.PolicyName),
			})
		case withSteps && e.ResourcePreEvent != nil:
			m := e.ResourcePreEvent.Metadata
			// Each step appears once per phase; count a resource once.
			if seen[string(m.Op)+m.URN] {
				continue
			}
			seen[string(m.Op)+m.URN] = true
			reasons := m.Keys
			if len(reasons) == 0 {
				reasons = m.Diffs
			}
			s.addStep(string(m.Op), m.URN, m.Type, reasons)
		case e.DiagnosticEvent != nil && e.DiagnosticEvent.Severity == "error" && withSteps:
			s.Errors = append(s.Errors, strings.TrimSpace(e.DiagnosticEvent.Message))
		}
	}
	return sc.Err()
}

// normalizeOp folds the engine's step kinds into what a reviewer counts; "" drops the step (the halves of a
// replacement are already counted by its "replace" step).
func normalizeOp(op string) string {
	switch op {
	case "create", "update", "replace", "delete", "same", "read", "import", "refresh":
		return op
	case "discard":
		return "delete"
	case "read-replacement", "import-replacement":
		return "replace"
	}
	return ""
}

func (s *Summary) addStep(op, urn, typ string, reasons []string) {
	op = normalizeOp(op)
	t, name := splitURN(urn)
	if typ == "" {
		typ = t
	}
	if op == "" || typ == "pulumi:pulumi:Stack" {
		return
	}
	s.Steps = append(s.Steps, Step{Op: op, Type: typ, Name: name, URN: urn, Reasons: reasons})
}

// splitURN returns the type and name of urn:pulumi:stack::project::[parent$]type::name.
func splitURN(urn string) (typ, name string) {
	parts := strings.SplitN(urn, "::", 4)
	if len(parts) != 4 {
		return "", urn
	}
	typ = parts[2]
	if i := strings.LastIndex(typ, "$"); i >= 0 {
		typ = typ[i+1:]
	}
	return typ, parts[3]
}

// trimDescription drops the policy description the engine puts before the message when the message names
// the rule itself ("[rule] ..."), as the ordermesh pack's do; the policy column already says which rule.
func trimDescription(msg, policy string) string {
	if i := strings.Index(msg, "["+policy+"]"); i > 0 {
		return msg[i:]
	}
	return msg
}
