package cli

import (
	"bytes"
	"context"
	"io"
	"strings"
)

// RunArgs runs one sipprot command line in this process, as the shell
// would run the binary, and returns what it printed. The web page runs
// every change through it, so the page and the CLI share one code path.
func RunArgs(ctx context.Context, args []string, stdin io.Reader) (stdout, stderr string, err error) {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}
