package order

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/apps/gen/eventsv1"
)

// Status is the customer-visible state of an order.
type Status string

const (
	StatusPending   Status = "pending"
	StatusCompleted Status = "completed"
	StatusRejected  Status = "rejected"
	StatusCancelled Status = "cancelled"
)

// Order is the aggregate, rebuilt by folding its event stream.
type Order struct {
	ID         string
	CustomerID string
	Items      []*eventsv1.LineItem
	TotalCents int64
	Currency   string
	Address    string
	Status     Status
	Reason     string
	Version    int64
}

// Apply folds one event into the order.
func (o *Order) Apply(ev proto.Message) {
	o.Version++
	switch e := ev.(type) {
	case *eventsv1.OrderCreated:
		o.ID, o.CustomerID, o.Items, o.TotalCents = e.GetOrderId(), e.GetCustomerId(), e.GetItems(), e.GetTotalCents()
		o.Currency, o.Address, o.Status = e.GetCurrency(), e.GetShippingAddress(), StatusPending
		if o.Currency == "" { // written by schema version 1, which had no currency
			o.Currency = DefaultCurrency
		}
	case *eventsv1.OrderCompleted:
		o.Status = StatusCompleted
	case *eventsv1.OrderRejected:
		o.Status, o.Reason = StatusRejected, e.GetReason()
	case *eventsv1.OrderCancelled:
		o.Status, o.Reason = StatusCancelled, e.GetReason()
	}
}

// Limits on a create request; anything larger is rejected as invalid.
const (
	DefaultCurrency = "EUR"
	MaxItems        = 100
	MaxQuantity     = 1000
	MaxTextLen      = 256
)

// Item is one requested line.
type Item struct {
	ProductID string
	Quantity  int32
}

// CreateRequest is a validated-to-be order request.
type CreateRequest struct {
	CustomerID string
	Items      []Item
	Currency   string
	Address    string
	// RequestID is the client's optional idempotency key.
	RequestID string
}

// Catalog maps product ids to unit prices in cents.
type Catalog map[string]int64

// ErrInvalid wraps every validation failure.
var ErrInvalid = errors.New("invalid order")

// Price validates req against the catalog and returns the priced line items.
// It reports every problem at once, each naming the field and value.
func (c Catalog) Price(req CreateRequest) ([]*eventsv1.LineItem, int64, error) {
	var problems []string
	if req.CustomerID == "" {
		problems = append(problems, "customer_id is empty: set the customer placing the order")
	} else if len(req.CustomerID) > MaxTextLen || !utf8.ValidString(req.CustomerID) {
		problems = append(problems, fmt.Sprintf("customer_id is %d bytes: at most %d bytes of UTF-8 allowed", len(req.CustomerID), MaxTextLen))
	}
	if len(req.Address) > MaxTextLen {
		problems = append(problems, fmt.Sprintf("shipping_address is %d bytes: at most %d allowed", len(req.Address), MaxTextLen))
	}
	if len(req.RequestID) > MaxTextLen || !utf8.ValidString(req.RequestID) {
		problems = append(problems, fmt.Sprintf("request_id is %d bytes: at most %d bytes of UTF-8 allowed", len(req.RequestID), MaxTextLen))
	}
	if req.Currency != "" && req.Currency != DefaultCurrency {
		problems = append(problems, fmt.Sprintf("currency = %q: only %q is accepted", req.Currency, DefaultCurrency))
	}
	switch {
	case len(req.Items) == 0:
		problems = append(problems, "items is empty: an order needs at least one item")
	case len(req.Items) > MaxItems:
		problems = append(problems, fmt.Sprintf("items has %d entries: at most %d allowed", len(req.Items), MaxItems))
	}
	var (
		lines []*eventsv1.LineItem
		total int64
		seen  = map[string]bool{}
	)
	for i, it := range req.Items {
		if len(req.Items) > MaxItems {
			break
		}
		price, known := c[it.ProductID]
		switch {
		case it.ProductID == "":
			problems = append(problems, fmt.Sprintf("items[%d].product_id is empty", i))
		case !known:
			problems = append(problems, fmt.Sprintf("items[%d].product_id = %q: unknown product", i, truncate(it.ProductID)))
		case seen[it.ProductID]:
			problems = append(problems, fmt.Sprintf("items[%d].product_id = %q: listed twice; combine the quantities", i, it.ProductID))
		}
		seen[it.ProductID] = true
		if it.Quantity <= 0 || it.Quantity > MaxQuantity {
			problems = append(problems, fmt.Sprintf("items[%d].quantity = %d: must be 1..%d", i, it.Quantity, MaxQuantity))
		}
		lines = append(lines, &eventsv1.LineItem{ProductId: it.ProductID, Quantity: it.Quantity, UnitPriceCents: price})
		total += price * int64(it.Quantity)
	}
	if len(problems) > 0 {
		return nil, 0, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return lines, total, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
