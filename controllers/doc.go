/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package controllers holds the CustomCluster and CustomMachine reconcilers (thin, in CAPD's
// style) and what they own: rendering a spec into module variables (inputs.go, values.go, with
// the names and types of package contract), decoding module outputs into spec and status
// (outputs.go), resolving and checking an object's module (module.go, checkModule, which
// capc-plan calls too), conditions, events and the patcher. Terraform runs only through the
// Runner interface declared here (tfrunner implements it). Nothing in tfrunner, modulecheck,
// modulesrc or contract may import this package.
package controllers
