package order

import (
	"context"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// CustomerHeader is the gRPC metadata key in which the Istio ingress gateway
// forwards the `sub` claim of the end user's verified JWT.
const CustomerHeader = "x-ordermesh-customer"

// callerFromMetadata reads the verified customer from the incoming metadata.
// Envoy may append to a header a client already sent instead of replacing
// it, so only the last value (the gateway's) counts. A header that is
// present but empty or oversized is not an identity: Unauthenticated.
func callerFromMetadata(ctx context.Context) (Caller, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(CustomerHeader)
	if len(vals) == 0 {
		return Caller{}, nil
	}
	c := vals[len(vals)-1]
	if c == "" || len(c) > MaxTextLen || !utf8.ValidString(c) {
		return Caller{}, status.Errorf(codes.Unauthenticated, "%s is empty or not %d bytes of UTF-8 at most", CustomerHeader, MaxTextLen)
	}
	return Caller{Customer: c}, nil
}
