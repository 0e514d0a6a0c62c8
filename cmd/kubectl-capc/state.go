/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/company/cluster-api-provider-custom/tfstate"
)

// rawState is the part of a terraform state file (format version 4) the commands read. There is
// no library type for the raw file: terraform-json models `terraform show -json`, which needs
// terraform and the providers.
type rawState struct {
	Version          int                  `json:"version"`
	TerraformVersion string               `json:"terraform_version"`
	Serial           int64                `json:"serial"`
	Lineage          string               `json:"lineage"`
	Outputs          map[string]rawOutput `json:"outputs"`
	Resources        []rawResource        `json:"resources"`
}

type rawOutput struct {
	Value     json.RawMessage `json:"value"`
	Sensitive bool            `json:"sensitive"`
}

type rawResource struct {
	Module    string        `json:"module,omitempty"`
	Mode      string        `json:"mode"`
	Type      string        `json:"type"`
	Name      string        `json:"name"`
	Provider  string        `json:"provider"`
	Instances []rawInstance `json:"instances"`
}

type rawInstance struct {
	IndexKey            json.RawMessage            `json:"index_key,omitempty"`
	Status              string                     `json:"status,omitempty"`
	Attributes          map[string]any             `json:"attributes"`
	SensitiveAttributes []json.RawMessage          `json:"sensitive_attributes,omitempty"`
	Dependencies        []string                   `json:"dependencies,omitempty"`
	Private             string                     `json:"private,omitempty"`
	Extra               map[string]json.RawMessage `json:"-"`
}

// instanceView is one resource instance as `state show` prints it: attributes redacted.
type instanceView struct {
	Address    string         `json:"address"`
	Provider   string         `json:"provider"`
	Status     string         `json:"status,omitempty"`
	Attributes map[string]any `json:"attributes"`
}

func parseState(raw []byte) (*rawState, error) {
	var s rawState
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("decoding the stored state: %w", err)
	}
	if s.Version != 4 {
		return nil, fmt.Errorf("the stored state has format version %d; this plugin reads version 4", s.Version)
	}
	return &s, nil
}

// address is terraform's instance address: [module.x.]type.name[key], data. before data sources.
func (r rawResource) address(in rawInstance) string {
	a := r.Type + "." + r.Name
	if r.Mode == "data" {
		a = "data." + a
	}
	if r.Module != "" {
		a = r.Module + "." + a
	}
	if len(in.IndexKey) > 0 {
		a += "[" + string(in.IndexKey) + "]" // a number or a JSON-quoted string, as terraform prints it
	}
	return a
}

// instances lists every instance with its redacted view, in state order.
func (s *rawState) instances() []instanceView {
	var out []instanceView
	for _, r := range s.Resources {
		for _, in := range r.Instances {
			out = append(out, instanceView{Address: r.address(in), Provider: r.Provider, Status: in.Status,
				Attributes: redactAttributes(in.Attributes, in.SensitiveAttributes)})
		}
	}
	return out
}

const redacted = "(sensitive)"

// secretName matches attribute names that hold secrets whatever the provider's schema says: the
// raw state lists only values marked sensitive in the configuration, not schema-sensitive ones.
// notSecret excludes names that only refer to or digest one (secret_arn, user_data_sha256).
var (
	secretName = regexp.MustCompile(`(?i)(password|passwd|secret|token|private_key|privatekey|passphrase|credential|api_key|access_key|kubeconfig|user_data|bootstrap_data|certificate_key)`)
	notSecret  = regexp.MustCompile(`(?i)_(sha1|sha256|sha512|md5|hash|arn|id|ids|name|names|version|ttl|length|expiry|expires_at)$`)
)

func secretKey(k string) bool { return secretName.MatchString(k) && !notSecret.MatchString(k) }

// redactAttributes returns a copy of attrs with the paths terraform recorded as sensitive and every
// attribute whose name suggests a secret replaced by "(sensitive)".
func redactAttributes(attrs map[string]any, sensitive []json.RawMessage) map[string]any {
	out := redactByName(attrs).(map[string]any)
	for _, p := range sensitive {
		var steps []struct {
			Type  string          `json:"type"`
			Value json.RawMessage `json:"value"`
		}
		if json.Unmarshal(p, &steps) != nil || len(steps) == 0 {
			continue
		}
		var cur any = out
		for i, st := range steps {
			last := i == len(steps)-1
			switch c := cur.(type) {
			case map[string]any:
				var key string
				if json.Unmarshal(st.Value, &key) != nil {
					var idx struct{ Value any }
					_ = json.Unmarshal(st.Value, &idx)
					key = fmt.Sprint(idx.Value)
				}
				if _, ok := c[key]; !ok {
					cur = nil
				} else if last {
					c[key] = redacted
				} else {
					cur = c[key]
				}
			case []any:
				var idx struct{ Value float64 }
				if json.Unmarshal(st.Value, &idx) != nil || int(idx.Value) >= len(c) || idx.Value < 0 {
					cur = nil
				} else if last {
					c[int(idx.Value)] = redacted
				} else {
					cur = c[int(idx.Value)]
				}
			default:
				cur = nil
			}
		}
	}
	return out
}

// redactByName deep-copies v, redacting values under secret-looking keys.
func redactByName(v any) any {
	switch c := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(c))
		for k, x := range c {
			if x != nil && x != "" && secretKey(k) {
				out[k] = redacted
			} else {
				out[k] = redactByName(x)
			}
		}
		return out
	case []any:
		out := make([]any, len(c))
		for i, x := range c {
			out[i] = redactByName(x)
		}
		return out
	}
	return v
}

func (a *app) stateCommand() *cobra.Command {
	c := &cobra.Command{Use: "state", Short: "Read an object's terraform state and its backups; restore a backup"}
	list := &cobra.Command{
		Use:   "list KIND/NAME",
		Short: "The resource instances in the object's state, as `terraform state list` prints them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, s, err := a.readState(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			for _, in := range s.instances() {
				fmt.Fprintln(cmd.OutOrStdout(), in.Address)
			}
			return nil
		},
	}
	var output string
	show := &cobra.Command{
		Use:   "show KIND/NAME ADDRESS",
		Short: "One resource instance's attributes, sensitive values redacted",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, s, err := a.readState(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			for _, in := range s.instances() {
				if in.Address != args[1] {
					continue
				}
				if ok, err := printStructured(cmd.OutOrStdout(), output, in); ok {
					return err
				}
				return printInstance(cmd.OutOrStdout(), in)
			}
			return fmt.Errorf("%s has no resource instance %s in its state (serial %d); `kubectl capc state list %s` lists them", args[0], args[1], s.Serial, args[0])
		},
	}
	show.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (default: text)")
	c.AddCommand(list, show, a.pullCommand(), a.backupsCommand(), a.restoreCommand())
	return c
}

func printInstance(w io.Writer, in instanceView) error {
	b, err := json.MarshalIndent(in.Attributes, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "# %s (provider %s", in.Address, in.Provider)
	if in.Status != "" {
		fmt.Fprintf(w, ", %s", in.Status)
	}
	_, err = fmt.Fprintf(w, ")\n%s\n", b)
	return err
}

func (a *app) readState(ctx context.Context, arg string) (*tfstate.StoredState, *rawState, error) {
	t, err := a.get(ctx, arg)
	if err != nil {
		return nil, nil, err
	}
	st, err := tfstate.ReadState(ctx, a.kube, t.ref())
	if err != nil {
		return nil, nil, err
	}
	if st == nil {
		return nil, nil, fmt.Errorf("%s has no state: nothing was applied for it yet (or it was destroyed)", t)
	}
	s, err := parseState(st.Raw)
	return st, s, err
}

func (a *app) pullCommand() *cobra.Command {
	var file string
	var overwrite bool
	c := &cobra.Command{
		Use:   "pull KIND/NAME",
		Short: "Write the object's state as a terraform.tfstate file for investigation with the terraform CLI",
		Long: `pull writes the object's state, unredacted, to a file (mode 0600) that terraform show, terraform
state list and terraform output read. The provider never reads it back: changing infrastructure
with it (terraform apply) would fork the state the provider keeps. The file holds every value in
the state, secrets included: delete it when done.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, s, err := a.readState(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if file == "-" {
				_, err := cmd.OutOrStdout().Write(st.Raw)
				return err
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if overwrite {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(file, flags, 0o600)
			if os.IsExist(err) {
				return fmt.Errorf("%s exists: pass --overwrite to replace it", file)
			}
			if err != nil {
				return err
			}
			if _, err := f.Write(st.Raw); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s: serial %s, lineage %s, %d resource instances (read-only copy: the provider never reads it back)\n",
				file, strconv.FormatInt(s.Serial, 10), s.Lineage, len(s.instances()))
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "terraform.tfstate", "file to write (- for stdout)")
	c.Flags().BoolVar(&overwrite, "overwrite", false, "replace an existing file")
	return c
}
