// Command countersign is the Countersign MFA server and its operator tool.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/countersign/countersign/internal/cli"
)

func main() {
	env := cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	if err := cli.Run(context.Background(), os.Args[1:], env); err != nil {
		fmt.Fprintln(os.Stderr, "countersign:", err)
		os.Exit(1)
	}
}
