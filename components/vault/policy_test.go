package vault

import (
	"strings"
	"testing"
)

func TestServicePolicyRoundTripsThroughJSON(t *testing.T) {
	doc, err := ServicePolicy("secret", "order").JSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"path":{"secret/data/order/*":{"capabilities":["read"]}}}`
	if doc != want {
		t.Fatalf("policy JSON = %s, want %s", doc, want)
	}
	p, err := ParsePolicy(doc)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Paths(); len(got) != 1 || got[0] != "secret/data/order/*" {
		t.Fatalf("parsed paths = %v", got)
	}
	if err := CheckServicePolicy(p, "secret", "order"); err != nil {
		t.Fatalf("generated policy rejected: %v", err)
	}
}

func TestParsePolicyRejectsUnknownFields(t *testing.T) {
	if _, err := ParsePolicy(`{"path":{"a/*":{"capabilities":["read"],"allowed_parameters":{}}}}`); err == nil {
		t.Fatal("unknown field accepted")
	}
}

func TestCheckServicePolicy(t *testing.T) {
	read := PathRule{Capabilities: []Capability{CapRead}}
	tests := []struct {
		name    string
		policy  Policy
		wantErr string // substring; "" means valid
	}{
		{"own prefix glob", Policy{Path: map[string]PathRule{"secret/data/order/*": read}}, ""},
		{"own exact path", Policy{Path: map[string]PathRule{"secret/data/order/db": read}}, ""},
		{"whole mount", Policy{Path: map[string]PathRule{"secret/data/*": read}}, `"secret/data/*" is outside`},
		{"prefix without slash reaches order-query", Policy{Path: map[string]PathRule{"secret/data/order*": read}}, "outside"},
		{"other service", Policy{Path: map[string]PathRule{"secret/data/payment/*": read}}, "outside"},
		{"metadata path", Policy{Path: map[string]PathRule{"secret/metadata/order/*": read}}, "outside"},
		{"segment glob", Policy{Path: map[string]PathRule{"secret/data/+/x": read}}, "outside"},
		{"write capability", Policy{Path: map[string]PathRule{"secret/data/order/*": {Capabilities: []Capability{CapRead, CapUpdate}}}}, `grants "update"`},
		{"sudo", Policy{Path: map[string]PathRule{"secret/data/order/*": {Capabilities: []Capability{CapSudo}}}}, `grants "sudo"`},
		{"empty", Policy{}, "no paths"},
		{"no capabilities", Policy{Path: map[string]PathRule{"secret/data/order/*": {}}}, "no capability"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckServicePolicy(tt.policy, "secret", "order")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
