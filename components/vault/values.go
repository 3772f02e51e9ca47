package vault

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// chartValues is the subset of the vault / openbao chart values this
// component sets (the OpenBao chart is a fork with the same keys).
type chartValues struct {
	Global   globalValues   `json:"global"`
	Injector injectorValues `json:"injector"`
	Server   serverValues   `json:"server"`
}

type globalValues struct {
	Enabled bool `json:"enabled"`
}

type injectorValues struct {
	Enabled  bool `json:"enabled"`
	Replicas int  `json:"replicas"`
}

type serverValues struct {
	Dev         devValues         `json:"dev"`
	Standalone  enabledValues     `json:"standalone"`
	HA          haValues          `json:"ha"`
	DataStorage dataStorageValues `json:"dataStorage"`
}

type devValues struct {
	Enabled      bool   `json:"enabled"`
	DevRootToken string `json:"devRootToken,omitempty"`
}

type enabledValues struct {
	Enabled bool `json:"enabled"`
}

type haValues struct {
	Enabled          bool                 `json:"enabled"`
	Replicas         int                  `json:"replicas,omitempty"`
	Raft             raftValues           `json:"raft"`
	DisruptionBudget disruptionBudgetVals `json:"disruptionBudget"`
}

type raftValues struct {
	Enabled   bool `json:"enabled"`
	SetNodeID bool `json:"setNodeId"`
}

type disruptionBudgetVals struct {
	Enabled        bool `json:"enabled"`
	MaxUnavailable int  `json:"maxUnavailable,omitempty"`
}

type dataStorageValues struct {
	Enabled      bool   `json:"enabled"`
	Size         string `json:"size,omitempty"`
	StorageClass string `json:"storageClass,omitempty"`
}

// buildValues derives the chart values from a (defaults applied).
func buildValues(a Args) chartValues {
	v := chartValues{
		Global:   globalValues{Enabled: true},
		Injector: injectorValues{Enabled: true, Replicas: a.InjectorReplicas},
	}
	if a.Profile == ProfileDev {
		v.Server.Dev = devValues{Enabled: true, DevRootToken: devRootToken}
		return v
	}
	v.Server.HA = haValues{
		Enabled:  true,
		Replicas: a.HAReplicas,
		Raft:     raftValues{Enabled: true, SetNodeID: true},
		// A raft cluster of n tolerates (n-1)/2 failures; voluntary
		// disruptions take at most one server at a time.
		DisruptionBudget: disruptionBudgetVals{Enabled: true, MaxUnavailable: 1},
	}
	v.Server.DataStorage = dataStorageValues{Enabled: true, Size: a.StorageSize, StorageClass: a.StorageClass}
	return v
}

// toMap converts typed values to the Helm values map via JSON, so the map
// holds exactly the keys the struct tags name.
func (v chartValues) toMap() (pulumi.Map, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("vault: marshal chart values: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("vault: unmarshal chart values: %w", err)
	}
	return pulumi.ToMap(m), nil
}
