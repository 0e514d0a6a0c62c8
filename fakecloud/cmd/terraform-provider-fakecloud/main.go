/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Command terraform-provider-fakecloud serves the fake cloud's Terraform provider
// (registry.terraform.io/company/fakecloud). Terraform starts it; it is installed from a
// filesystem mirror (see hack/build-fakecloud.sh).
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/company/cluster-api-provider-custom/fakecloud/provider"
)

// version is set with -ldflags "-X main.version=...".
var version = "0.1.0"

func main() {
	debug := flag.Bool("debug", false, "run with support for debuggers (prints TF_REATTACH_PROVIDERS)")
	flag.Parse()
	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: provider.Address,
		Debug:   *debug,
	})
	if err != nil {
		log.Fatal(err)
	}
}
