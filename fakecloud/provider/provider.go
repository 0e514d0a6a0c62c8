/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package provider is the Terraform provider for the fake cloud (registry address
// registry.terraform.io/company/fakecloud), built with terraform-plugin-framework.
package provider

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/company/cluster-api-provider-custom/fakecloud/client"
)

// Address is the provider's registry address.
const Address = "registry.terraform.io/company/fakecloud"

// Environment variables the provider reads when its configuration leaves a setting out.
const (
	EnvEndpoint     = "FAKECLOUD_ENDPOINT"
	EnvToken        = "FAKECLOUD_TOKEN"
	EnvRetryTimeout = "FAKECLOUD_RETRY_TIMEOUT"
)

type fakecloudProvider struct{ version string }

// New returns the provider factory for providerserver.Serve.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &fakecloudProvider{version: version} }
}

type providerModel struct {
	Endpoint     types.String `tfsdk:"endpoint"`
	Token        types.String `tfsdk:"token"`
	RetryTimeout types.String `tfsdk:"retry_timeout"`
}

func (p *fakecloudProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "fakecloud"
	resp.Version = p.version
}

func (p *fakecloudProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "The fake cloud (fakecloud/server): VPCs, subnets, security groups, load balancers and instances behind a loopback HTTP API.",
		Attributes: map[string]schema.Attribute{
			"endpoint": schema.StringAttribute{Optional: true,
				Description: "Base URL of the fake cloud API, e.g. http://127.0.0.1:8787. Default: $" + EnvEndpoint + "."},
			"token": schema.StringAttribute{Optional: true, Sensitive: true,
				Description: "Bearer token, when the server requires one. Default: $" + EnvToken + "."},
			"retry_timeout": schema.StringAttribute{Optional: true,
				Description: "How long to retry 5xx answers, throttling and connection errors (Go duration). Default: $" + EnvRetryTimeout + ", else 1m."},
		},
	}
}

func (p *fakecloudProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if m.Endpoint.IsUnknown() || m.Token.IsUnknown() || m.RetryTimeout.IsUnknown() {
		resp.Diagnostics.AddError("fakecloud provider configuration is not known yet",
			"endpoint, token and retry_timeout must be known at plan time; do not derive them from resources of the same apply.")
		return
	}
	pick := func(v types.String, env string) string {
		if !v.IsNull() && v.ValueString() != "" {
			return v.ValueString()
		}
		return os.Getenv(env)
	}
	endpoint := pick(m.Endpoint, EnvEndpoint)
	if endpoint == "" {
		resp.Diagnostics.AddAttributeError(path.Root("endpoint"), "fakecloud endpoint is not set",
			"Set the provider's endpoint argument or the "+EnvEndpoint+" environment variable to the fake cloud's base URL, e.g. http://127.0.0.1:8787.")
		return
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		resp.Diagnostics.AddAttributeError(path.Root("endpoint"), "fakecloud endpoint is not a valid URL",
			fmt.Sprintf("The endpoint must be an http(s) base URL such as http://127.0.0.1:8787 (got a value of %d characters).", len(endpoint)))
		return
	}
	retry := time.Minute
	if s := pick(m.RetryTimeout, EnvRetryTimeout); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			resp.Diagnostics.AddAttributeError(path.Root("retry_timeout"), "invalid retry_timeout",
				fmt.Sprintf("retry_timeout must be a non-negative Go duration such as 30s or 2m, got %q.", s))
			return
		}
		retry = d
	}
	c := &client.Client{Endpoint: endpoint, Token: pick(m.Token, EnvToken), RetryTimeout: retry,
		UserAgent: "terraform-provider-fakecloud/" + p.version}
	resp.ResourceData = c
}

func (p *fakecloudProvider) Resources(context.Context) []func() resource.Resource {
	out := make([]func() resource.Resource, 0, len(resourceDefs))
	for _, d := range resourceDefs {
		out = append(out, func() resource.Resource { return &genericResource{def: d} })
	}
	return out
}

func (p *fakecloudProvider) DataSources(context.Context) []func() datasource.DataSource { return nil }
