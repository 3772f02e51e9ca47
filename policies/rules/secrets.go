package rules

import (
	"regexp"
	"strings"
)

var (
	// secretName matches names of variables and keys that usually hold credentials.
	secretName = regexp.MustCompile(`(?i)(pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential|access[_-]?key)`)
	// referenceSuffix marks names that point at a secret or describe one instead of holding it
	// (VAULT_TOKEN_PATH, TOKEN_TTL).
	referenceSuffix = regexp.MustCompile(`(?i)[_-](file|path|name|ref|dir|mount|role|url|endpoint|addr|address|header|` +
		`ttl|timeout|expiry|length|size|enabled|type|issuer|audience)$`)
	// secretValue matches values that are credentials whatever their name: PEM private keys, URLs with a
	// password, AWS access key ids, key=value connection strings with a password.
	secretValue = regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----|://[^/\s:@]+:[^/\s@]+@|\bAKIA[0-9A-Z]{16}\b|(?i)\b(password|pwd)=[^\s;&]+`)
)

// secretLooking says why name=value looks like a plaintext credential, "" if it does not.
func secretLooking(name, value string) string {
	if strings.TrimSpace(value) == "" {
		return ""
	}
	if secretValue.MatchString(value) {
		return "value looks like a credential"
	}
	if secretName.MatchString(name) && !referenceSuffix.MatchString(name) {
		return "name suggests a credential"
	}
	return ""
}

var noPlaintextSecrets = Rule{
	Name:        "no-plaintext-secrets",
	Description: "No secret-looking value is written in plain text into container env or a ConfigMap.",
	Remediation: "Keep credentials in Vault (agent injection) or a Kubernetes Secret and reference them with " +
		"env[].valueFrom.secretKeyRef; pass them to Pulumi as secrets (pulumi config set --secret).",
	Class: Invariant,
	CheckResource: func(r Resource, p Params) []Finding {
		f := &findings{urn: r.URN}
		if is(r, "", "ConfigMap") {
			data := root(r.Props).Get("data")
			if data.Unknown() {
				f.unknown(data)
			}
			for _, e := range data.Entries() {
				if e.Value.Unknown() {
					f.unknown(e.Value)
					continue
				}
				v, _ := e.Value.Str()
				if why := secretLooking(e.Key, v); why != "" {
					f.fail("ConfigMap %q: data key %q: %s", displayName(r), e.Key, why)
				}
			}
			return f.out
		}
		w, ok := podOf(r)
		if !ok {
			return nil
		}
		for _, c := range containers(f, w.spec, true) {
			env := c.Get("env")
			if env.Unknown() {
				f.unknown(env)
			}
			for _, e := range env.Items() {
				nm := e.Get("name")
				val := e.Get("value")
				if nm.Unknown() || val.Unknown() {
					f.unknown(firstUnknown(nm, val))
					continue
				}
				name, _ := nm.Str()
				v, _ := val.Str()
				if why := secretLooking(name, v); why != "" {
					f.fail("container %q: env %s has a literal value: %s", containerName(c), name, why)
				}
			}
		}
		return f.out
	},
}
