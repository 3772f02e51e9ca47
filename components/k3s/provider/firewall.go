package provider

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Node-to-node ports k3s needs between hosts (https://docs.k3s.io/installation/requirements#networking).
var (
	peerTCPPorts = []string{"2379-2380", "6443", "10250"} // embedded etcd, API server, kubelet metrics/logs
	peerUDPPorts = []string{"8472", "51820", "51821"}     // flannel VXLAN, flannel WireGuard v4/v6
)

// RenderFirewall renders an nftables ruleset: the public ports to the world, the k3s node-to-node
// ports to the peers only, pod/flannel interfaces trusted, everything else inbound dropped. It
// replaces only its own table (inet ordermesh), leaving other rules on the host alone.
func RenderFirewall(f Firewall) string {
	var v4, v6 []string
	for _, p := range f.Peers {
		ip := net.ParseIP(p)
		if ip == nil {
			if i, _, err := net.ParseCIDR(p); err == nil {
				ip = i
			}
		}
		if ip != nil && ip.To4() != nil {
			v4 = append(v4, p)
		} else if ip != nil {
			v6 = append(v6, p)
		}
	}
	ports := make([]string, len(f.PublicTCPPorts))
	for i, p := range f.PublicTCPPorts {
		ports[i] = strconv.Itoa(p)
	}
	var b strings.Builder
	b.WriteString("# Rendered by ordermesh; replaced on every pulumi up.\n")
	b.WriteString("table inet ordermesh\ndelete table inet ordermesh\n")
	b.WriteString("table inet ordermesh {\n")
	fmt.Fprintf(&b, "\tset peers4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n%s\t}\n", elements(v4))
	fmt.Fprintf(&b, "\tset peers6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n%s\t}\n", elements(v6))
	b.WriteString("\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n")
	b.WriteString("\t\tct state established,related accept\n\t\tct state invalid drop\n")
	b.WriteString("\t\tiifname \"lo\" accept\n")
	b.WriteString("\t\tiifname { \"cni0\", \"flannel.1\", \"flannel-wg\", \"flannel-wg-v6\" } accept\n")
	b.WriteString("\t\tmeta l4proto { icmp, ipv6-icmp } accept\n")
	if len(ports) > 0 {
		fmt.Fprintf(&b, "\t\ttcp dport { %s } accept\n", strings.Join(ports, ", "))
	}
	for _, set := range []string{"ip saddr @peers4", "ip6 saddr @peers6"} {
		fmt.Fprintf(&b, "\t\t%s tcp dport { %s } accept\n", set, strings.Join(peerTCPPorts, ", "))
		fmt.Fprintf(&b, "\t\t%s udp dport { %s } accept\n", set, strings.Join(peerUDPPorts, ", "))
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

func elements(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return "\t\telements = { " + strings.Join(xs, ", ") + " }\n"
}
