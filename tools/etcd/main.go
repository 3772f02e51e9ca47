// Command etcd runs the etcd server for the local control plane.
//
// etcd ships no installable main in a module the proxy serves on its own, so
// this is the smallest wrapper around the server's real entry point.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
