package order

import "errors"

// Caller is who asks the order API for something. Customer is the end user
// the ingress verified; empty means nobody was verified (local runs, in-mesh
// callers), and the request body is trusted instead.
type Caller struct {
	Customer string
}

// ErrForeignCustomer is returned when a verified customer acts for, or on
// an order of, somebody else.
var ErrForeignCustomer = errors.New("order belongs to another customer")

// CustomerFor resolves the customer a new order is placed for: the verified
// customer (the body may omit it or repeat it, but not name someone else),
// or the body's customer id when nobody was verified.
func (c Caller) CustomerFor(body string) (string, error) {
	switch {
	case c.Customer == "":
		return body, nil
	case body == "" || body == c.Customer:
		return c.Customer, nil
	default:
		return "", ErrForeignCustomer
	}
}

// MayAccess reports whether the caller may read or change an order owned by
// owner.
func (c Caller) MayAccess(owner string) bool {
	return c.Customer == "" || c.Customer == owner
}
