package stacks

import (
	"fmt"
	"maps"
	"slices"
)

// IngressGateway is the caller name of the Istio ingress gateway in Service.Callers.
const IngressGateway = "ingress-gateway"

// The reference services of the order system.
const (
	OrderService        = "order"
	PaymentService      = "payment"
	InventoryService    = "inventory"
	ShippingService     = "shipping"
	OrderQueryService   = "order-query"
	NotificationService = "notification"
)

// ServiceNames lists the reference services in deployment order.
var ServiceNames = []string{OrderService, PaymentService, InventoryService, ShippingService, OrderQueryService, NotificationService}

// The order domain topics (the names apps/internal/topics uses); each has a DLQSuffix partner.
const (
	OrdersTopic            = "orders.events"
	InventoryCommandsTopic = "inventory.commands"
	InventoryTopic         = "inventory.events"
	PaymentCommandsTopic   = "payment.commands"
	PaymentsTopic          = "payment.events"
	ShippingCommandsTopic  = "shipping.commands"
	ShippingTopic          = "shipping.events"

	// DLQSuffix names a topic's dead-letter partner.
	DLQSuffix = ".dlq"
)

// DefaultImageTag is the pinned tag of the reference images.
const DefaultImageTag = "0.1.0"

// DefaultImageRepository is the repository prefix of the reference images.
const DefaultImageRepository = "ghcr.io/ordermesh/"

// orderMethods are the gRPC methods the ingress gateway may call on the order service.
var orderMethods = []string{
	"/ordermesh.order.v1.OrderService/CreateOrder",
	"/ordermesh.order.v1.OrderService/GetOrder",
	"/ordermesh.order.v1.OrderService/CancelOrder",
}

// queryMethods are the gRPC methods the ingress gateway may call on the order-query service.
var queryMethods = []string{"/ordermesh.query.v1.OrderQueryService/GetOrderView"}

// ParseProfile returns the profile named s.
func ParseProfile(s string) (Profile, error) {
	for _, p := range Profiles {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown profile %q: must be one of dev, staging, prod", s)
}

// Defaults returns the full default configuration of profile p.
func Defaults(p Profile) (*Config, error) {
	if _, err := ParseProfile(string(p)); err != nil {
		return nil, err
	}
	pick := func(dev, staging, prod int) int {
		switch p {
		case Dev:
			return dev
		case Staging:
			return staging
		}
		return prod
	}
	pickS := func(dev, staging, prod string) string {
		switch p {
		case Dev:
			return dev
		case Staging:
			return staging
		}
		return prod
	}
	c := &Config{
		Profile: p,
		Cluster: Cluster{
			Mode:          pickS("local", "existing", "existing"),
			LocalStateDir: ".state/localcluster",
		},
		Operators: Operators{Install: true},
		Namespaces: Namespaces{
			Apps:          "orders",
			Kafka:         "kafka",
			Mesh:          "istio-system",
			Ingress:       "istio-ingress",
			Vault:         "vault",
			Observability: "observability",
		},
		Kafka: Kafka{
			ClusterName:       "ordermesh",
			DualRole:          p == Dev,
			Controllers:       pick(0, 3, 3),
			Brokers:           pick(1, 3, 3),
			Replication:       pick(1, 3, 3),
			MinInsyncReplicas: pick(1, 2, 2),
			Partitions:        pick(3, 6, 12),
			RetentionHours:    pick(24, 72, 168),
			DLQRetentionHours: pick(72, 168, 336),
			StorageSize:       pickS("1Gi", "20Gi", "100Gi"),
			Port:              9092,
			Topics: []string{
				OrdersTopic, InventoryCommandsTopic, InventoryTopic, PaymentCommandsTopic, PaymentsTopic,
				ShippingCommandsTopic, ShippingTopic,
			},
			Resources: Resources{
				Requests: ResourceList{CPU: pickS("250m", "500m", "1"), Memory: pickS("1Gi", "2Gi", "4Gi")},
				Limits:   ResourceList{CPU: pickS("1", "2", "4"), Memory: pickS("1Gi", "2Gi", "4Gi")},
			},
		},
		Mesh: Mesh{
			Enabled:            true,
			MTLSMode:           "STRICT",
			TracingSampling:    map[Profile]float64{Dev: 100, Staging: 10, Prod: 1}[p],
			IngressHost:        pickS("orders.localtest.me", "orders.staging.ordermesh.example", "orders.ordermesh.example"),
			IngressServiceType: pickS("ClusterIP", "LoadBalancer", "LoadBalancer"),
			JWT: JWT{
				Issuer:  pickS("", "https://auth.staging.ordermesh.example/", "https://auth.ordermesh.example/"),
				JWKSURI: pickS("", "https://auth.staging.ordermesh.example/.well-known/jwks.json", "https://auth.ordermesh.example/.well-known/jwks.json"),
			},
		},
		Vault: Vault{
			Flavor:      "vault",
			HA:          p != Dev,
			Replicas:    pick(1, 3, 3),
			Injector:    true,
			StorageSize: pickS("1Gi", "5Gi", "10Gi"),
			Port:        8200,
		},
		Observability: Observability{
			Enabled:        true,
			Retention:      pickS("2d", "7d", "30d"),
			TracingBackend: "jaeger",
			CollectorPort:  4317,
			SLO: SLO{
				SagaSuccessRatio:     map[Profile]float64{Dev: 0.95, Staging: 0.99, Prod: 0.995}[p],
				OrderAPIP99Ms:        pick(1000, 500, 300),
				ConsumerLagMax:       pick(10000, 5000, 1000),
				DeadLetterRatePerMin: map[Profile]float64{Dev: 10, Staging: 5, Prod: 1}[p],
			},
		},
		Services: map[string]Service{},
	}

	replicas := pick(1, 2, 3)
	for _, name := range ServiceNames {
		s := Service{
			Image:       Image{Repository: DefaultImageRepository + name, Tag: DefaultImageTag},
			GRPCPort:    8080,
			MetricsPort: 9090,
			Resources: Resources{
				Requests: ResourceList{CPU: pickS("50m", "100m", "250m"), Memory: pickS("64Mi", "128Mi", "256Mi")},
				Limits:   ResourceList{CPU: pickS("500m", "500m", "1"), Memory: pickS("128Mi", "256Mi", "512Mi")},
			},
			Replicas:   replicas,
			ZoneSpread: pickS("none", "preferred", "required"),
			PDB:        PDB{MinAvailable: pick(0, 1, 2)},
			HPA: HPA{
				Enabled:          true,
				MinReplicas:      replicas,
				MaxReplicas:      pick(2, 4, 10),
				TargetCPUPercent: 70,
			},
			Canary: Canary{
				Enabled:  p == Prod,
				Tag:      DefaultImageTag,
				Weight:   pick(0, 0, 5),
				Replicas: 1,
			},
		}
		switch name {
		case OrderService:
			// The saga orchestrator: commands out, participant events in.
			s.Callers = []string{IngressGateway}
			s.Methods = slices.Clone(orderMethods)
			s.Produces = []string{OrdersTopic, InventoryCommandsTopic, PaymentCommandsTopic, ShippingCommandsTopic}
			s.Consumes = []string{InventoryTopic, PaymentsTopic, ShippingTopic}
		case PaymentService:
			s.Produces = []string{PaymentsTopic}
			s.Consumes = []string{PaymentCommandsTopic}
			s.NeedsVault = true
		case InventoryService:
			s.Produces = []string{InventoryTopic}
			s.Consumes = []string{InventoryCommandsTopic}
		case ShippingService:
			s.Produces = []string{ShippingTopic}
			s.Consumes = []string{ShippingCommandsTopic}
		case OrderQueryService:
			s.Callers = []string{IngressGateway}
			s.Methods = slices.Clone(queryMethods)
			s.Consumes = []string{OrdersTopic, InventoryTopic, PaymentsTopic, ShippingTopic}
		case NotificationService:
			s.Consumes = []string{OrdersTopic, ShippingTopic}
			// A background worker: nothing routes requests to it, so no canary split.
			s.Canary.Enabled = false
			s.Canary.Weight = 0
		}
		c.Services[name] = s
	}
	return c, nil
}

// SortedServiceNames returns the configured service names, reference services first in
// their documented order.
func (c *Config) SortedServiceNames() []string {
	names := slices.Collect(maps.Keys(c.Services))
	slices.SortFunc(names, func(a, b string) int {
		ia, ib := slices.Index(ServiceNames, a), slices.Index(ServiceNames, b)
		if ia >= 0 && ib >= 0 {
			return ia - ib
		}
		if ia >= 0 {
			return -1
		}
		if ib >= 0 {
			return 1
		}
		if a < b {
			return -1
		}
		if a > b {
			return 1
		}
		return 0
	})
	return names
}
