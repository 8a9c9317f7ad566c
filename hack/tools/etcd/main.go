// Command etcd is etcd's own server entry point, wrapped so that it builds
// from the pinned go.etcd.io/etcd/server/v3 module alone.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
