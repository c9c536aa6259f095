package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// ErrConfig is returned, wrapped, for a configuration file or secret file
// that cannot be used.
var ErrConfig = errors.New("configuration")

// newFlagSet returns a flag set for a command that reports errors instead
// of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("custodian "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// envName is the environment variable that sets a flag.
func envName(flagName string) string {
	return "CUSTODIAN_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// stringFlag defines a string flag whose help names its environment
// variable; parseConfig fills it from there or from the configuration
// file when the command line does not set it.
func stringFlag(fs *flag.FlagSet, name, def, help string) *string {
	return fs.String(name, def, help+" (env "+envName(name)+")")
}

// listVar defines a repeatable, comma-separated list flag.
func listVar(fs *flag.FlagSet, name, help string) *listFlag {
	l := &listFlag{}
	fs.Var(l, name, help+"; repeatable or comma-separated (env "+envName(name)+")")
	return l
}

// parse parses a command's flags, treating -h as success.
func parse(fs *flag.FlagSet, args []string) (help bool, err error) {
	err = fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return true, nil
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return false, err
}

// listFlag is a flag that may be repeated and also takes comma-separated
// lists, so "--acme-host a --acme-host b", "--acme-host a,b",
// CUSTODIAN_ACME_HOST=a,b and ["a","b"] in the config file all mean the
// same.
type listFlag []string

// String returns the list as the comma-separated text Set accepts.
func (l *listFlag) String() string { return strings.Join(*l, ",") }

// Set adds the comma-separated items of v, so that repeating the flag
// adds to the list.
func (l *listFlag) Set(v string) error {
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*l = append(*l, item)
		}
	}
	return nil
}

// parseConfig parses a command's flags and completes every flag that was
// not given on the command line, first from the environment
// (CUSTODIAN_<FLAG>), then from the JSON configuration file named by
// --config or CUSTODIAN_CONFIG, whose keys are flag names. Precedence is
// therefore flag > environment > file > default. It treats -h as success.
func parseConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (help bool, err error) {
	_, help, err = parseConfigArgs(fs, args, getenv, false)
	return help, err
}

// parseConfigArgs is parseConfig for commands that take positional
// arguments after their flags (allowArgs); it returns them.
func parseConfigArgs(fs *flag.FlagSet, args []string, getenv func(string) string, allowArgs bool) (rest []string, help bool, err error) {
	configPath := fs.String("config", "", "JSON configuration file whose keys are flag names (env CUSTODIAN_CONFIG)")
	if allowArgs {
		err = fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			return nil, true, nil
		}
		rest = fs.Args()
	} else {
		help, err = parse(fs, args)
	}
	if help || err != nil {
		return nil, help, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	path := *configPath
	if !set["config"] {
		path = getenv(envName("config"))
	}
	file, err := readConfigFile(path)
	if err != nil {
		return nil, false, err
	}
	for name := range file {
		if name == "config" || fs.Lookup(name) == nil {
			return nil, false, fmt.Errorf("%w: %s: unknown key %q (keys are the flag names)", ErrConfig, path, name)
		}
	}
	var setErr error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || f.Name == "config" || setErr != nil {
			return
		}
		v, source := getenv(envName(f.Name)), "environment variable "+envName(f.Name)
		if f.Name == "production" && v == "" && getenv("CUSTODIAN_ENV") == "production" {
			v, source = "true", "CUSTODIAN_ENV"
		}
		if v == "" {
			fv, ok := file[f.Name]
			if !ok {
				return
			}
			v, source = fv, "key "+f.Name+" of "+path
		}
		if err := fs.Set(f.Name, v); err != nil {
			setErr = fmt.Errorf("%w: %s: %w", ErrConfig, source, err)
		}
	})
	return rest, false, setErr
}

// readConfigFile reads a JSON object of flag names to values: strings,
// booleans, numbers, or arrays of strings for list flags. An empty path
// is no file.
func readConfigFile(path string) (map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path) // #nosec G304 G703 -- the operator names the configuration file
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %s is not a JSON object: %w", ErrConfig, path, err)
	}
	out := make(map[string]string, len(raw))
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, err := configValue(raw[k])
		if err != nil {
			return nil, fmt.Errorf("%w: %s: key %q: %w", ErrConfig, path, k, err)
		}
		out[k] = v
	}
	return out, nil
}

// configValue turns one JSON value into the text a flag's Set accepts.
func configValue(raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		for _, item := range list {
			if strings.Contains(item, ",") {
				return "", errors.New("list items must not contain commas")
			}
		}
		return strings.Join(list, ","), nil
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return fmt.Sprint(b), nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), nil
	}
	return "", errors.New("must be a string, boolean, number or array of strings")
}

// secretValue returns the secret given directly, or else read from file
// (the _FILE variants, for container and systemd secrets), with
// surrounding whitespace removed. Giving both is an error. Errors name the
// setting and the file, never the secret.
func secretValue(name, direct, file string) (string, error) {
	if file == "" {
		return direct, nil
	}
	if direct != "" {
		return "", fmt.Errorf("%w: set either --%s or --%s-file, not both", ErrConfig, name, name)
	}
	b, err := os.ReadFile(file) // #nosec G304 G703 -- the operator names the secret file
	if err != nil {
		return "", fmt.Errorf("%w: --%s-file: %w", ErrConfig, name, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%w: --%s-file %s is empty", ErrConfig, name, file)
	}
	return v, nil
}
