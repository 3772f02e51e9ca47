package order

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ordermesh/ordermesh/apps/gen/orderv1"
	"github.com/ordermesh/ordermesh/apps/internal/store"
)

func TestCallerCustomerFor(t *testing.T) {
	tests := []struct {
		name   string
		caller Caller
		body   string
		want   string
		err    error
	}{
		{"unverified caller: body is trusted", Caller{}, "bob", "bob", nil},
		{"unverified caller with empty body stays empty", Caller{}, "", "", nil},
		{"verified caller, body omitted", Caller{"alice"}, "", "alice", nil},
		{"verified caller repeating itself", Caller{"alice"}, "alice", "alice", nil},
		{"verified caller naming someone else", Caller{"alice"}, "bob", "", ErrForeignCustomer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.caller.CustomerFor(tc.body)
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Errorf("CustomerFor(%q) = %q, %v; want %q, %v", tc.body, got, err, tc.want, tc.err)
			}
		})
	}
}

// withCustomer returns an incoming gRPC context carrying the given values of
// the customer header (several values: a client-sent one plus Envoy's).
func withCustomer(vals ...string) context.Context {
	ctx := context.Background()
	if vals == nil {
		return ctx
	}
	md := metadata.MD{}
	for _, v := range vals {
		md.Append(CustomerHeader, v)
	}
	return metadata.NewIncomingContext(ctx, md)
}

func newTestService(t testing.TB) *Service {
	t.Helper()
	return newShardedTestService(t, 1)
}

// newShardedTestService is a service on n migrated SQLite shards.
func newShardedTestService(t testing.TB, n int) *Service {
	t.Helper()
	return New(Config{Shards: openShards(t, t.TempDir(), n), Catalog: Catalog{"sku-1": 100}})
}

// openShards opens and migrates n SQLite shards in dir.
func openShards(t testing.TB, dir string, n int) []*store.DB {
	t.Helper()
	ctx := context.Background()
	mig, err := fs.Sub(Migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var dbs []*store.DB
	for i := range n {
		db, err := store.OpenSQLite(ctx, store.ShardPath(filepath.Join(dir, "order.db"), i))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(ctx, mig); err != nil {
			t.Fatal(err)
		}
		dbs = append(dbs, db)
	}
	return dbs
}

func TestAPIEnforcesVerifiedCustomer(t *testing.T) {
	svc := newTestService(t)
	items := []*orderv1.Item{{ProductId: "sku-1", Quantity: 1}}
	place := func(customer string) string {
		t.Helper()
		resp, err := svc.CreateOrder(context.Background(), &orderv1.CreateOrderRequest{CustomerId: customer, Items: items})
		if err != nil {
			t.Fatalf("seed order for %s: %v", customer, err)
		}
		return resp.GetOrderId()
	}

	t.Run("create", func(t *testing.T) {
		tests := []struct {
			name      string
			ctx       context.Context
			body      string
			code      codes.Code
			wantOwner string
		}{
			{"no header: body customer is used", withCustomer(), "bob", codes.OK, "bob"},
			{"no header and no body customer is invalid", withCustomer(), "", codes.InvalidArgument, ""},
			{"header only: header customer is used", withCustomer("alice"), "", codes.OK, "alice"},
			{"header equals body", withCustomer("alice"), "alice", codes.OK, "alice"},
			{"body names someone else", withCustomer("alice"), "bob", codes.PermissionDenied, ""},
			{"last header value wins (client-sent value first)", withCustomer("bob", "alice"), "alice", codes.OK, "alice"},
			{"client-sent earlier value is not trusted", withCustomer("bob", "alice"), "bob", codes.PermissionDenied, ""},
			{"empty header is not an identity", withCustomer(""), "alice", codes.Unauthenticated, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				resp, err := svc.CreateOrder(tc.ctx, &orderv1.CreateOrderRequest{CustomerId: tc.body, Items: items})
				if got := status.Code(err); got != tc.code {
					t.Fatalf("code %s (%v), want %s", got, err, tc.code)
				}
				if tc.code != codes.OK {
					return
				}
				o, err := svc.GetOrder(context.Background(), &orderv1.GetOrderRequest{OrderId: resp.GetOrderId()})
				if err != nil {
					t.Fatal(err)
				}
				if o.GetCustomerId() != tc.wantOwner {
					t.Errorf("order stored for %q, want %q", o.GetCustomerId(), tc.wantOwner)
				}
			})
		}
	})

	t.Run("get and cancel", func(t *testing.T) {
		tests := []struct {
			name  string
			ctx   context.Context
			owner string
			code  codes.Code
		}{
			{"no header: any order", withCustomer(), "alice", codes.OK},
			{"own order", withCustomer("alice"), "alice", codes.OK},
			{"another customer's order", withCustomer("bob"), "alice", codes.PermissionDenied},
			{"spoofed first value, gateway value last", withCustomer("alice", "bob"), "alice", codes.PermissionDenied},
			{"empty header", withCustomer(""), "alice", codes.Unauthenticated},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				id := place(tc.owner)
				_, err := svc.GetOrder(tc.ctx, &orderv1.GetOrderRequest{OrderId: id})
				if got := status.Code(err); got != tc.code {
					t.Errorf("GetOrder: code %s (%v), want %s", got, err, tc.code)
				}
				_, err = svc.CancelOrder(tc.ctx, &orderv1.CancelOrderRequest{OrderId: id, Reason: "changed my mind"})
				if got := status.Code(err); got != tc.code {
					t.Errorf("CancelOrder: code %s (%v), want %s", got, err, tc.code)
				}
				o, err := svc.GetOrder(context.Background(), &orderv1.GetOrderRequest{OrderId: id})
				if err != nil {
					t.Fatal(err)
				}
				if cancelled := o.GetStep() != string(Reserving); cancelled != (tc.code == codes.OK) {
					t.Errorf("after cancel the saga is %q; cancelled = %v, want %v", o.GetStep(), cancelled, tc.code == codes.OK)
				}
			})
		}
	})
}
