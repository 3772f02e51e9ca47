// Package topics names the Kafka topics and routes each message type to its
// topic, so producers never spell topic names.
package topics

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/apps/gen/eventsv1"
)

const (
	OrderEvents       = "orders.events"
	InventoryCommands = "inventory.commands"
	InventoryEvents   = "inventory.events"
	PaymentCommands   = "payment.commands"
	PaymentEvents     = "payment.events"
	ShippingCommands  = "shipping.commands"
	ShippingEvents    = "shipping.events"

	// DeadLetterSuffix names each topic's dead-letter partner.
	DeadLetterSuffix = ".dlq"
)

// Domain lists the order domain topics.
var Domain = []string{OrderEvents, InventoryCommands, InventoryEvents, PaymentCommands, PaymentEvents, ShippingCommands, ShippingEvents}

// All lists every topic the system uses: the domain topics and their
// dead-letter partners.
var All = func() []string {
	out := append([]string(nil), Domain...)
	for _, t := range Domain {
		out = append(out, DeadLetter(t))
	}
	return out
}()

// DeadLetter is the dead-letter topic of topic.
func DeadLetter(topic string) string { return topic + DeadLetterSuffix }

// EventTopics are the topics the read model and auditors consume.
var EventTopics = []string{OrderEvents, InventoryEvents, PaymentEvents, ShippingEvents}

// For returns the topic a message type is published on.
func For(msg proto.Message) (string, error) {
	switch msg.(type) {
	case *eventsv1.OrderCreated, *eventsv1.OrderCompleted, *eventsv1.OrderRejected, *eventsv1.OrderCancelled:
		return OrderEvents, nil
	case *eventsv1.ReserveStock, *eventsv1.ReleaseStock:
		return InventoryCommands, nil
	case *eventsv1.StockReserved, *eventsv1.StockRejected, *eventsv1.StockReleased:
		return InventoryEvents, nil
	case *eventsv1.AuthorizePayment, *eventsv1.RefundPayment:
		return PaymentCommands, nil
	case *eventsv1.PaymentAuthorized, *eventsv1.PaymentDeclined, *eventsv1.PaymentRefunded:
		return PaymentEvents, nil
	case *eventsv1.ScheduleShipment:
		return ShippingCommands, nil
	case *eventsv1.ShipmentScheduled, *eventsv1.ShipmentFailed:
		return ShippingEvents, nil
	}
	return "", fmt.Errorf("topics: no topic for %T", msg)
}

// Create makes every topic with the given partitions and replication factor.
func Create(ctx context.Context, broker string, partitions, replication int) error {
	cfgs := make([]kafka.TopicConfig, 0, len(All))
	for _, t := range All {
		tc := kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: replication}
		if replication >= 3 {
			// With acks=all this makes a write survive the loss of one broker.
			tc.ConfigEntries = []kafka.ConfigEntry{{ConfigName: "min.insync.replicas", ConfigValue: "2"}}
		}
		cfgs = append(cfgs, tc)
	}
	return CreateConfigs(ctx, broker, cfgs...)
}

// CreateConfigs creates topics through the cluster's controller.
func CreateConfigs(ctx context.Context, broker string, cfgs ...kafka.TopicConfig) error {
	conn, err := kafka.DialContext(ctx, "tcp", broker)
	if err != nil {
		return fmt.Errorf("topics: dial %s: %w", broker, err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("topics: controller: %w", err)
	}
	cc, err := kafka.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return fmt.Errorf("topics: dial controller: %w", err)
	}
	defer cc.Close()
	if err := cc.CreateTopics(cfgs...); err != nil {
		return fmt.Errorf("topics: create: %w", err)
	}
	return nil
}
