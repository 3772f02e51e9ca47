package rules

var kafkaTopicReplication = Rule{
	Name: "kafka-topic-replication",
	Description: "KafkaTopics are replicated enough for the profile (prod: replicas >= 3 and " +
		"min.insync.replicas >= 2, below the replica count).",
	Remediation: "Set spec.replicas and spec.config[\"min.insync.replicas\"] on the KafkaTopic (prod: 3 and 2); " +
		"components/kafka takes both from the stack profile.",
	Class: Safety,
	CheckResource: func(r Resource, p Params) []Finding {
		if !is(r, "kafka.strimzi.io", "KafkaTopic") {
			return nil
		}
		f := &findings{urn: r.URN}
		spec := root(r.Props).Get("spec")
		name := displayName(r)
		if n, ok := spec.Get("topicName").Str(); ok && n != "" {
			name = n
		}
		rep := spec.Get("replicas")
		replicas := 0.0
		switch v, ok := rep.Num(); {
		case rep.Unknown():
			f.unknown(rep)
		case !ok && p.MinTopicReplicas > 1:
			f.fail("topic %q: spec.replicas is not set (profile %s needs >= %d)", name, p.Profile, p.MinTopicReplicas)
		case ok && v < float64(p.MinTopicReplicas):
			f.fail("topic %q: spec.replicas is %v (profile %s needs >= %d)", name, v, p.Profile, p.MinTopicReplicas)
		case ok:
			replicas = v
		}
		isr := spec.Path("config", "min.insync.replicas")
		switch v, ok := isr.Num(); {
		case isr.Unknown():
			f.unknown(isr)
		case !ok && p.MinInSyncReplicas > 1:
			f.fail("topic %q: config min.insync.replicas is not set (profile %s needs >= %d)", name, p.Profile,
				p.MinInSyncReplicas)
		case ok && v < float64(p.MinInSyncReplicas):
			f.fail("topic %q: config min.insync.replicas is %v (profile %s needs >= %d)", name, v, p.Profile,
				p.MinInSyncReplicas)
		case ok && replicas >= 2 && v >= replicas:
			// acks=all producers would stall as soon as one replica is down.
			f.fail("topic %q: min.insync.replicas %v is not below replicas %v", name, v, replicas)
		}
		return f.out
	},
}

var kafkaNoWildcardACLs = Rule{
	Name:        "kafka-no-wildcard-acls",
	Description: "No KafkaUser has an ACL on every topic or group (resource name '*' or an empty prefix).",
	Remediation: "Name the topics and consumer groups the service uses in its KafkaUser ACLs (literal names or a " +
		"service-specific prefix).",
	Class: Invariant,
	CheckResource: func(r Resource, p Params) []Finding {
		if !is(r, "kafka.strimzi.io", "KafkaUser") {
			return nil
		}
		f := &findings{urn: r.URN}
		acls := root(r.Props).Path("spec", "authorization", "acls")
		if acls.Unknown() {
			f.unknown(acls)
			return f.out
		}
		for i, acl := range acls.Items() {
			res := acl.Get("resource")
			typ, _ := res.Get("type").Str()
			if typ == "cluster" {
				continue
			}
			nm, pt := res.Get("name"), res.Get("patternType")
			if nm.Unknown() || pt.Unknown() {
				f.unknown(firstUnknown(nm, pt))
				continue
			}
			name, _ := nm.Str()
			pattern, _ := pt.Str()
			if name == "*" || (pattern == "prefix" && name == "") {
				f.fail("KafkaUser %q: acls[%d] grants %v on every %s", displayName(r), i, acl.Get("operations").Strings(), typ)
			}
		}
		return f.out
	},
}
