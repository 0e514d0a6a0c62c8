/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// What users hand terraform as credentials (a Secret's keys and values) reaches the process as
// environment variables and nothing else. A credential is a value: a key whose value names a
// program to run, code or a library to load, or a file or directory to read configuration from
// is not one, and is refused by name, never dropped silently. terraform starts other programs
// (git and ssh for module sources, a shell for provisioners, providers and what they start), and
// each reads the environment: such a key would let a tenant run commands the module policy
// refuses (--allow-provisioners) or point a program at a file its module wrote. docs/security.md
// has the reasoning; the classes are listed below, one line each.

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// envClass is one class of refused keys: exact names, name prefixes and suffixes (upper case).
type envClass struct {
	names, prefixes, suffixes []string
	why                       string
}

var refusedEnv = []envClass{
	{names: []string{"PATH", "HOME", "TMPDIR", "SHELL", "PWD"}, why: "would change where terraform finds programs or files"},
	{prefixes: []string{"LD_", "GCONV_", "GLIBC_", "MALLOC_"}, names: []string{"LOCPATH", "NLSPATH", "HOSTALIASES", "RES_OPTIONS", "LOCALDOMAIN"},
		why: "would change what the dynamic loader or the C library loads"},
	{prefixes: []string{"KUBE"}, why: "would hand terraform Kubernetes credentials"},
	{prefixes: []string{"CAPC_TERRAFORM_SHIM_"}, why: "is reserved for the provider's terraform shim"},
	{prefixes: []string{"GIT_", "SSH_", "GCM_"}, why: "would make git or ssh (module sources) run a command or read configuration of its choosing"},
	{prefixes: []string{"BASH_", "ZSH"}, names: []string{"ENV", "PS1", "PS2", "PS3", "PS4", "SHELLOPTS", "BASHOPTS", "PROMPT_COMMAND", "IFS", "CDPATH", "FPATH", "GLOBIGNORE", "ZDOTDIR"},
		why: "would make a shell (provisioners, helper scripts) run code of its choosing"},
	{prefixes: []string{"PYTHON", "PERL", "RUBY", "NODE_", "NPM_CONFIG_", "GEM_", "BUNDLE_", "LUA_", "JAVA_", "_JAVA_", "JDK_"},
		names: []string{"CLASSPATH", "GOFLAGS"}, why: "would make a language runtime load code of its choosing"},
	{prefixes: []string{"XDG_", "OPENSSL_", "SSL_CERT_", "LESS", "TERMINFO"}, names: []string{"EDITOR", "VISUAL", "PAGER", "BROWSER", "CURL_HOME", "WGETRC", "GOOGLE_APPLICATION_CREDENTIALS"},
		suffixes: []string{"_FILE", "_PATH", "_DIR", "_DIRS", "_HOME", "_BUNDLE", "_COMMAND", "_PROGRAM", "_EXECUTABLE", "_SCRIPT"},
		why:      "names a program to run or a file or directory to read: a credential is a value (a key, a token, a JSON document), not a path"},
}

// envKeyProblem says why k may not be a credentials key ("" when it may).
func envKeyProblem(k string) string {
	u := strings.ToUpper(k)
	switch {
	case !envName.MatchString(k):
		return "is not a valid environment variable name"
	case strings.HasPrefix(u, "TF_TOKEN_"):
		return "" // a registry or module host token, the documented way to reach private registries
	case strings.HasPrefix(u, "TF_"):
		return "would configure terraform itself (only TF_TOKEN_<host> is accepted)"
	}
	for _, c := range refusedEnv {
		if slices.Contains(c.names, u) || slices.ContainsFunc(c.prefixes, func(p string) bool { return strings.HasPrefix(u, p) }) ||
			slices.ContainsFunc(c.suffixes, func(p string) bool { return strings.HasSuffix(u, p) }) {
			return c.why
		}
	}
	return ""
}

// EnvError lists credentials keys that cannot reach terraform (names only: never values).
type EnvError struct{ Problems []string }

func (e *EnvError) Error() string {
	return "credentials Secret: " + strings.Join(e.Problems, "; ")
}

// CheckEnv refuses credentials keys that are not plain credentials. Values of 1 or 2 characters
// are accepted and not redacted (see redact.go): settings such as a retry timeout of "5s" live
// beside the credentials, and no credential is that short.
func CheckEnv(env map[string]string) error {
	var problems []string
	for k := range env {
		if p := envKeyProblem(k); p != "" {
			problems = append(problems, fmt.Sprintf("key %q %s", k, p))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return &EnvError{Problems: problems}
}

// checkSensitive refuses sensitive variables holding a string of 1 or 2 characters: redacting
// such a value everywhere it occurs would ruin the plan text, and not redacting it would leak it.
func checkSensitive(vars map[string]cty.Value, sensitive []string) error {
	for _, name := range sensitive {
		v, ok := vars[name]
		if !ok {
			continue
		}
		short := false
		eachString(v, func(s string) { short = short || len(s) > 0 && len(s) < minSecretLen })
		if short {
			return fmt.Errorf("sensitive variable %s holds a string shorter than %d characters, which cannot be kept out of logs and plans", name, minSecretLen)
		}
	}
	return nil
}
