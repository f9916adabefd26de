package problem

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNoDomainNorFrontDoor keeps the vocabulary neutral: domain
// packages and every front door import it, so it may import none of them.
func TestImportsNoDomainNorFrontDoor(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	const internal = "github.com/countersign/countersign/internal/"
	allowed := map[string]bool{internal + "problem": true, internal + "validate": true}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, internal) && !allowed[dep] {
			t.Errorf("problem depends on %s", dep)
		}
	}
}
