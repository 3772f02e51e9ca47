package observability

import (
	"encoding/json"
	"fmt"
)

// Dashboard is the subset of the Grafana dashboard JSON model ordermesh
// generates. Dashboards are built in Go (see dashboards.go) so metric names
// and thresholds come from the same typed arguments as the alert rules.
type Dashboard struct {
	UID           string     `json:"uid"`
	Title         string     `json:"title"`
	Tags          []string   `json:"tags"`
	Timezone      string     `json:"timezone"`
	SchemaVersion int        `json:"schemaVersion"`
	Refresh       string     `json:"refresh"`
	Time          TimeRange  `json:"time"`
	Templating    Templating `json:"templating"`
	Panels        []Panel    `json:"panels"`
}

// TimeRange is the default time window.
type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Templating holds dashboard variables.
type Templating struct {
	List []Variable `json:"list"`
}

// Variable is a query-backed dashboard variable.
type Variable struct {
	Name       string        `json:"name"`
	Label      string        `json:"label"`
	Type       string        `json:"type"`
	Datasource DatasourceRef `json:"datasource"`
	Query      string        `json:"query"`
	Refresh    int           `json:"refresh"`
	IncludeAll bool          `json:"includeAll"`
	Multi      bool          `json:"multi"`
}

// DatasourceRef points at a Grafana data source by type and uid.
type DatasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Panel is one visualisation.
type Panel struct {
	ID          int           `json:"id"`
	Type        string        `json:"type"`
	Title       string        `json:"title"`
	Description string        `json:"description,omitempty"`
	GridPos     GridPos       `json:"gridPos"`
	Datasource  DatasourceRef `json:"datasource"`
	Targets     []Target      `json:"targets"`
	FieldConfig FieldConfig   `json:"fieldConfig"`
}

// GridPos places a panel on the 24-column grid.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Target is one PromQL query of a panel.
type Target struct {
	RefID        string        `json:"refId"`
	Expr         string        `json:"expr"`
	LegendFormat string        `json:"legendFormat,omitempty"`
	Datasource   DatasourceRef `json:"datasource"`
}

// FieldConfig sets units and thresholds.
type FieldConfig struct {
	Defaults  FieldDefaults `json:"defaults"`
	Overrides []struct{}    `json:"overrides"`
}

// FieldDefaults are the panel-wide field settings.
type FieldDefaults struct {
	Unit       string      `json:"unit,omitempty"`
	Min        *float64    `json:"min,omitempty"`
	Max        *float64    `json:"max,omitempty"`
	Thresholds *Thresholds `json:"thresholds,omitempty"`
}

// Thresholds colour values; the first step's Value is nil (base).
type Thresholds struct {
	Mode  string          `json:"mode"`
	Steps []ThresholdStep `json:"steps"`
}

// ThresholdStep is one colour boundary.
type ThresholdStep struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}

// panelSpec is what the dashboard definitions state; layout, ids,
// datasources and ref ids are filled in by build.
type panelSpec struct {
	title, typ, unit, description string
	queries                       []query
	threshold                     *float64 // red at or above (or below, for ratios: see lowIsBad)
	lowIsBad                      bool
}

type query struct{ expr, legend string }

const (
	panelWidth  = 12
	panelHeight = 8
)

// build lays panels out two per row and wires the Prometheus data source.
func build(uid, title string, tags []string, ds DatasourceRef, vars []Variable, specs []panelSpec) Dashboard {
	d := Dashboard{
		UID: uid, Title: title, Tags: append([]string{"ordermesh"}, tags...), Timezone: "browser",
		SchemaVersion: 39, Refresh: "30s", Time: TimeRange{From: "now-1h", To: "now"},
		Templating: Templating{List: vars},
	}
	if d.Templating.List == nil {
		d.Templating.List = []Variable{}
	}
	for i, s := range specs {
		p := Panel{
			ID: i + 1, Type: s.typ, Title: s.title, Description: s.description, Datasource: ds,
			GridPos:     GridPos{H: panelHeight, W: panelWidth, X: (i % 2) * panelWidth, Y: (i / 2) * panelHeight},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Unit: s.unit}, Overrides: []struct{}{}},
		}
		if s.threshold != nil {
			base, alarm := "green", "red"
			if s.lowIsBad {
				base, alarm = "red", "green"
			}
			p.FieldConfig.Defaults.Thresholds = &Thresholds{Mode: "absolute", Steps: []ThresholdStep{
				{Color: base}, {Color: alarm, Value: s.threshold},
			}}
		}
		for j, q := range s.queries {
			p.Targets = append(p.Targets, Target{RefID: string(rune('A' + j)), Expr: q.expr, LegendFormat: q.legend, Datasource: ds})
		}
		d.Panels = append(d.Panels, p)
	}
	return d
}

// JSON renders the dashboard as Grafana imports it.
func (d Dashboard) JSON() (string, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return "", fmt.Errorf("dashboard %s: %w", d.UID, err)
	}
	return string(b), nil
}
