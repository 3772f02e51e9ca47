package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

var opOrder = []string{"replace", "delete", "create", "update", "import", "read", "refresh", "same"}

var levelRank = map[string]int{"mandatory": 0, "remediate": 1, "advisory": 2}

// Markdown renders the summary.
func (s *Summary) Markdown() string {
	var b strings.Builder
	title := "Pulumi preview"
	if s.Stack != "" {
		title += fmt.Sprintf(" — `%s`", s.Stack)
	}
	fmt.Fprintf(&b, "### %s\n\n", title)

	counts := map[string]int{}
	for _, st := range s.Steps {
		counts[st.Op]++
	}
	mandatory := 0
	for _, v := range s.Violations {
		if v.Level == "mandatory" {
			mandatory++
		}
	}
	var parts []string
	for _, op := range opOrder {
		if counts[op] > 0 {
			parts = append(parts, fmt.Sprintf("%d to %s", counts[op], op))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "no changes")
	}
	status := "✅"
	switch {
	case mandatory > 0 || len(s.Errors) > 0:
		status = "❌"
	case counts["replace"]+counts["delete"] > 0 || len(s.Violations) > 0:
		status = "⚠️"
	}
	fmt.Fprintf(&b, "%s **%s** · %d policy violation(s), %d mandatory\n\n", status, strings.Join(parts, ", "),
		len(s.Violations), mandatory)

	if len(s.Errors) > 0 {
		b.WriteString("#### Errors\n\n")
		for _, e := range s.Errors {
			fmt.Fprintf(&b, "- %s\n", cell(e))
		}
		b.WriteString("\n")
	}

	var risky []Step
	for _, st := range s.Steps {
		if st.Op == "replace" || st.Op == "delete" {
			risky = append(risky, st)
		}
	}
	if len(risky) > 0 {
		slices.SortStableFunc(risky, func(a, b Step) int {
			return cmp.Or(cmp.Compare(slices.Index(opOrder, a.Op), slices.Index(opOrder, b.Op)),
				cmp.Compare(a.Type, b.Type), cmp.Compare(a.Name, b.Name))
		})
		b.WriteString("#### Replacements and deletions\n\n| | Type | Name | Because of |\n| --- | --- | --- | --- |\n")
		for _, st := range risky {
			fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", st.Op, st.Type, cell(st.Name), cell(strings.Join(st.Reasons, ", ")))
		}
		b.WriteString("\n")
	}

	if len(s.Violations) > 0 {
		vs := slices.Clone(s.Violations)
		slices.SortStableFunc(vs, func(a, b Violation) int {
			return cmp.Or(cmp.Compare(rank(a.Level), rank(b.Level)), cmp.Compare(a.Policy, b.Policy))
		})
		b.WriteString("#### Policy violations\n\n| Level | Policy | Resource | Message |\n| --- | --- | --- | --- |\n")
		for _, v := range vs {
			_, name := splitURN(v.URN)
			if v.URN == "" {
				name = "(stack)"
			}
			fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", v.Level, v.Policy, cell(name), cell(v.Message))
		}
		b.WriteString("\n")
	}

	if len(s.Steps) > 0 {
		byType := map[string]map[string]int{}
		for _, st := range s.Steps {
			if byType[st.Type] == nil {
				byType[st.Type] = map[string]int{}
			}
			byType[st.Type][st.Op]++
		}
		var cols []string
		for _, op := range opOrder {
			if counts[op] > 0 {
				cols = append(cols, op)
			}
		}
		types := make([]string, 0, len(byType))
		for t := range byType {
			types = append(types, t)
		}
		// Types with replacements or deletions first, then by name.
		slices.SortFunc(types, func(a, b string) int {
			ra := byType[a]["replace"] + byType[a]["delete"]
			rb := byType[b]["replace"] + byType[b]["delete"]
			return cmp.Or(cmp.Compare(rb, ra), cmp.Compare(a, b))
		})
		b.WriteString("#### Changes by resource type\n\n| Type |")
		for _, c := range cols {
			fmt.Fprintf(&b, " %s |", c)
		}
		b.WriteString("\n| --- |" + strings.Repeat(" ---: |", len(cols)) + "\n")
		for _, t := range types {
			fmt.Fprintf(&b, "| `%s` |", t)
			for _, c := range cols {
				if n := byType[t][c]; n > 0 {
					fmt.Fprintf(&b, " %d |", n)
				} else {
					b.WriteString("  |")
				}
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func rank(level string) int {
	if r, ok := levelRank[level]; ok {
		return r
	}
	return len(levelRank)
}

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\r", "")
	return strings.ReplaceAll(s, "\n", "<br>")
}
