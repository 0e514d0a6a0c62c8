package tfrunner

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// What users hand terraform as credentials (a Secret's keys and values) reaches the process as
// environment variables and nothing else: keys that would steer terraform itself, the loader or
// the process's files are refused by name, never dropped silently.

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// envKeyProblem says why k may not be a credentials key ("" when it may).
func envKeyProblem(k string) string {
	u := strings.ToUpper(k)
	switch {
	case !envName.MatchString(k):
		return "is not a valid environment variable name"
	case u == "PATH" || u == "HOME" || u == "TMPDIR" || u == "SHELL":
		return "would change where terraform finds programs or files"
	case strings.HasPrefix(u, "LD_"):
		return "would change what the dynamic loader runs"
	case strings.HasPrefix(u, "TF_TOKEN_"):
		return "" // a registry or module host token, the documented way to reach private registries
	case strings.HasPrefix(u, "TF_"):
		return "would configure terraform itself (only TF_TOKEN_<host> is accepted)"
	case strings.HasPrefix(u, "KUBE"):
		return "would hand terraform Kubernetes credentials"
	case strings.HasPrefix(u, "CAPC_TERRAFORM_SHIM_"):
		return "is reserved for the provider's terraform shim"
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
