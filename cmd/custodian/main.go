// Command custodian runs the Custodian server and its administrative
// commands. main only wires the process to run, which takes everything it
// uses as arguments so that tests can run it in-process.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	// The time zone database, embedded: users' time zones are checked and
	// used even in containers without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// main runs the program with the process's arguments, environment and
// standard streams, stopping it on SIGINT or SIGTERM, and exits with 1 on
// error.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "custodian:", err)
		os.Exit(1)
	}
}
