package director

import (
	"os"
	"testing"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.CleanupRMF()
	os.Exit(code)
}
