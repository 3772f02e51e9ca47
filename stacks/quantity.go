package stacks

import (
	"fmt"
	"math/big"
	"regexp"
)

// Kubernetes quantity grammar (k8s.io/apimachinery/pkg/api/resource):
//
//	<quantity> ::= <signedNumber><suffix>
//	<suffix>   ::= <binarySI> | <decimalExponent> | <decimalSI>
//	<binarySI> ::= Ki | Mi | Gi | Ti | Pi | Ei
//	<decimalSI> ::= n | u | m | "" | k | M | G | T | P | E
//	<decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>
//
// apimachinery is not a dependency of this module and would pull a large graph for one
// parser, so the grammar is implemented here.
var quantityRE = regexp.MustCompile(`^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?[0-9]+))?$`)

var quantityScale = map[string]*big.Rat{
	"":   big.NewRat(1, 1),
	"n":  big.NewRat(1, 1_000_000_000),
	"u":  big.NewRat(1, 1_000_000),
	"m":  big.NewRat(1, 1000),
	"k":  big.NewRat(1_000, 1),
	"M":  big.NewRat(1_000_000, 1),
	"G":  big.NewRat(1_000_000_000, 1),
	"T":  new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(12), nil)),
	"P":  new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(15), nil)),
	"E":  new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)),
	"Ki": new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), 10)),
	"Mi": new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), 20)),
	"Gi": new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), 30)),
	"Ti": new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), 40)),
	"Pi": new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), 50)),
	"Ei": new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), 60)),
}

// ParseQuantity parses a Kubernetes quantity and returns its exact value.
func ParseQuantity(s string) (*big.Rat, error) {
	m := quantityRE.FindStringSubmatch(s)
	if m == nil {
		return nil, fmt.Errorf("%q is not a Kubernetes quantity (e.g. 100m, 0.5, 128Mi, 1Gi, 1e3)", s)
	}
	num, ok := new(big.Rat).SetString(m[1])
	if !ok {
		return nil, fmt.Errorf("%q is not a Kubernetes quantity", s)
	}
	if m[3] != "" {
		var exp int64
		if _, err := fmt.Sscan(m[3], &exp); err != nil || exp > 100 || exp < -100 {
			return nil, fmt.Errorf("%q: exponent out of range", s)
		}
		p := new(big.Int).Exp(big.NewInt(10), big.NewInt(abs64(exp)), nil)
		scale := new(big.Rat).SetInt(p)
		if exp < 0 {
			scale.Inv(scale)
		}
		return num.Mul(num, scale), nil
	}
	return num.Mul(num, quantityScale[m[2]]), nil
}

func abs64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
