/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Command capc-tfshim runs one terraform process for the manager (tfrunner Config.Shim): in a
// process group of its own that dies with the manager. It is not meant to be run by hand.
package main

import (
	"fmt"
	"os"

	"github.com/company/cluster-api-provider-custom/tfrunner/shim"
)

func main() {
	code, ok := shim.Main()
	if !ok {
		fmt.Fprintln(os.Stderr, "capc-tfshim: started by the manager only (to run terraform)")
		os.Exit(2)
	}
	os.Exit(code)
}
