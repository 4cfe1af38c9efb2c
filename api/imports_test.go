package api

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/actoredis/actoredis"

// layers lists the library packages bottom-up: each may import only packages before it.
// otelhooks, an add-on over api, is the last.
var layers = []string{"resp", "actors", "node", "slotmap", "dispatcher", "api", "otelhooks"}

// allowedExternal are the modules library packages may import besides the standard library.
var allowedExternal = []string{"github.com/asynkron/protoactor-go/"}

// allowedOnly are modules only one library package may import: OpenTelemetry's API, for otelhooks
// (the client itself does not record spans or metrics).
var allowedOnly = map[string]string{"otelhooks": "go.opentelemetry.io/otel"}

func goCmd() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command(goCmd(), append([]string{"list"}, args...)...).CombinedOutput()
	require.NoError(t, err, "go list %v: %s", args, out)
	return strings.Fields(string(out))
}

// TestImportGraph enforces DESIGN.md's rule: imports go downward only
// (resp ← actors ← node ← slotmap ← dispatcher ← api), library packages never import internal/*,
// and resp uses the standard library alone.
func TestImportGraph(t *testing.T) {
	rank := map[string]int{}
	for i, l := range layers {
		rank[module+"/"+l] = i
	}
	std := map[string]bool{}
	for _, s := range goList(t, "std") {
		std[s] = true
	}
	for i, l := range layers {
		pkg := module + "/" + l
		imports := goList(t, "-f", `{{join .Imports " "}}`, "../"+l)
		for _, imp := range imports {
			switch {
			case std[imp]:
			case strings.HasPrefix(imp, module+"/internal/"):
				t.Errorf("%s imports %s: library packages must not import internal packages", pkg, imp)
			case strings.HasPrefix(imp, module+"/"):
				r, known := rank[imp]
				if !known || r >= i {
					t.Errorf("%s imports %s: imports must go downward (%s)", pkg, imp, strings.Join(layers, " ← "))
				}
			case l == "resp":
				t.Errorf("resp imports %s: the codec uses the standard library only", imp)
			default:
				ok := allowedOnly[l] != "" && strings.HasPrefix(imp, allowedOnly[l])
				for _, a := range allowedExternal {
					ok = ok || strings.HasPrefix(imp, a)
				}
				if !ok {
					t.Errorf("%s imports %s: not an allowed dependency of the library", pkg, imp)
				}
			}
		}
	}
}
