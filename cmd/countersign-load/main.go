// Command countersign-load measures how many second-factor verifications and
// password logins a running Countersign server sustains. It creates its own
// users through the admin API, so it needs an empty-enough tenant, an
// application key and an admin key; scripts/load sets all of that up. Its
// oidc phase also needs an OpenID Connect client (`countersign oidc client
// create`, or the admin API). The hello phase measures a minimal net/http
// server as a reference and the flood phase the checks under a password
// flood; the report ends with issue 14's ratios between phases. With
// -server-pid it reads the server's CPU time from /proc, so each phase shows
// CPU per operation; -rounds repeats the phases and gives each ratio's min,
// median and max. `countersign-load table DIR` prints issue 14's table from
// the reports scripts/load table had it write into DIR.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if os.Getenv(helloChildEnv) == "1" {
		if err := serveHelloChild(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "countersign-load hello server:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "countersign-load:", err)
		os.Exit(1)
	}
}
