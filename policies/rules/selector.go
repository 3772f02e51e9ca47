package rules

import "slices"

// match is the outcome of applying a label selector: yes, no, or unknown because the selector or the labels
// are not known yet.
type match int

const (
	matchNo match = iota
	matchYes
	matchUnknown
)

// selects applies a Kubernetes LabelSelector (matchLabels + matchExpressions) to labels. An empty selector
// selects everything, as in NetworkPolicy.podSelector. unk is the unknown field when the result is
// matchUnknown.
func selects(sel, labels node) (m match, unk node) {
	if sel.Unknown() {
		return matchUnknown, sel
	}
	if labels.Unknown() {
		return matchUnknown, labels
	}
	have := map[string]string{}
	for _, e := range labels.Entries() {
		if e.Value.Unknown() {
			return matchUnknown, e.Value
		}
		s, _ := e.Value.Str()
		have[e.Key] = s
	}
	ml := sel.Get("matchLabels")
	if ml.Unknown() {
		return matchUnknown, ml
	}
	for _, e := range ml.Entries() {
		want, ok := e.Value.Str()
		if e.Value.Unknown() {
			return matchUnknown, e.Value
		}
		if got, has := have[e.Key]; !ok || !has || got != want {
			return matchNo, node{}
		}
	}
	me := sel.Get("matchExpressions")
	if me.HasUnknown() {
		return matchUnknown, me
	}
	for _, ex := range me.Items() {
		key, _ := ex.Get("key").Str()
		op, _ := ex.Get("operator").Str()
		vals := ex.Get("values").Strings()
		got, has := have[key]
		ok := false
		switch op {
		case "In":
			ok = has && slices.Contains(vals, got)
		case "NotIn":
			ok = !has || !slices.Contains(vals, got)
		case "Exists":
			ok = has
		case "DoesNotExist":
			ok = !has
		}
		if !ok {
			return matchNo, node{}
		}
	}
	return matchYes, node{}
}

// emptySelector reports whether a selector selects every pod (no matchLabels and no matchExpressions).
func emptySelector(sel node) bool {
	return len(sel.Get("matchLabels").Entries()) == 0 && len(sel.Get("matchExpressions").Items()) == 0 &&
		!sel.HasUnknown()
}
