// Command custodian-bench measures the real server under load, as users
// run it: encryption on, every read recorded, every request authenticated
// with an access token and written to the request log.
//
// It has two steps, which bench.sh (make bench) runs around a real
// `custodian serve` process:
//
//	custodian-bench seed -data-dir D [-database-url U] -keyring K -fixture F -n N
//	custodian-bench load -url URL -fixture F -pid PID [-ops ...] [-duration 10s] [-out FILE]
//
// seed fills a data directory (or a fresh PostgreSQL schema) with N
// customers through the customer service (validated, sealed, indexed: the
// path of an import), under a new keyring written to K, and an
// administrator whose access token it writes to F with the customers' ids,
// email addresses and name prefixes. load drives each operation with
// concurrent keep-alive HTTP clients against the server for a fixed time
// and prints requests per second, p50 and p99 latency and the server's
// resident memory (read from /proc for PID), and appends the figures to a
// JSON file.
//
//	custodian-bench signin-flood -url URL -email E -password-file F [-attackers 300]
//
// signin-flood (signin-flood.sh runs it around a real server) measures a
// person's sign-in while hundreds of addresses flood the sign-in route.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "custodian-bench:", err)
		os.Exit(1)
	}
}

const usage = `usage: custodian-bench seed|load|signin-flood|transfer [flags]; -h for a step's flags`

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "seed":
		return runSeed(ctx, args[1:], stdout)
	case "load":
		return runLoad(ctx, args[1:], stdout)
	case "signin-flood":
		return runFlood(ctx, args[1:], stdout)
	case "transfer":
		return runTransfer(ctx, args[1:], stdout)
	}
	return fmt.Errorf("unknown step %q; %s", args[0], usage)
}
