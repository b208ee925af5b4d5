// Command upstream-go drives upstream agent-sandbox's own Go client
// (sigs.k8s.io/agent-sandbox/clients/go/sandbox, pinned in go.mod) through
// its basic flow against a Sandbank install, unchanged: this proves that a
// user of upstream v1.0 can point their Go program at Sandbank.
//
// It prints one JSON object on stdout. On the first failing step it still
// prints the object (with "failedStep" and "error") and exits 1, so a test
// names the step that broke instead of a Go stack trace. Exit 2 is a usage
// error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"sigs.k8s.io/agent-sandbox/clients/go/sandbox"
)

// report is what the program prints: every step it completed, with what it
// observed, so the caller asserts on values rather than on log lines.
type report struct {
	Namespace   string   `json:"namespace"`
	Pool        string   `json:"pool"`
	Mode        string   `json:"mode"`
	Claim       string   `json:"claim,omitempty"`
	Sandbox     string   `json:"sandbox,omitempty"`
	Pod         string   `json:"pod,omitempty"`
	Steps       []string `json:"steps"`
	Stdout      string   `json:"stdout,omitempty"`
	ExitCode    int      `json:"exitCode"`
	FileContent string   `json:"fileContent,omitempty"`
	Listed      []string `json:"listed,omitempty"`
	Exists      bool     `json:"exists"`
	Missing     bool     `json:"missingReportedAbsent"`
	Reattached  string   `json:"reattachedStdout,omitempty"`
	Claims      []string `json:"claimsBeforeDelete,omitempty"`
	ClaimsAfter []string `json:"claimsAfterDelete,omitempty"`
	FailedStep  string   `json:"failedStep,omitempty"`
	Error       string   `json:"error,omitempty"`
}

// The file written and read back; a plain name because the legacy runtime
// API of upstream's Go client rejects directory separators in Write.
const (
	fileName    = "upstream-go.txt"
	fileContent = "written by upstream's Go client"
	marker      = "hello-from-upstream-go"
)

func main() {
	namespace := flag.String("namespace", "default", "namespace of the SandboxClaim (Options.Namespace)")
	pool := flag.String("pool", "", "SandboxWarmPool to claim from (required)")
	apiURL := flag.String("api-url", "", "router URL (Options.APIURL, direct mode); empty = upstream's default port-forward mode")
	serverPort := flag.Int("server-port", 0, "the sandbox runtime's port (Options.ServerPort); 0 = upstream's default, 8888")
	timeout := flag.Duration("timeout", 5*time.Minute, "deadline for the whole flow")
	flag.Parse()
	if *pool == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: upstream-go -pool <warm pool> [-namespace ns] [-api-url url] [-server-port n] [-timeout 5m]")
		os.Exit(2)
	}

	r := &report{Namespace: *namespace, Pool: *pool, Mode: "port-forward", Steps: []string{}}
	if *apiURL != "" {
		r.Mode = "direct-url"
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	err := run(ctx, r, sandbox.Options{Namespace: *namespace, APIURL: *apiURL, ServerPort: *serverPort})
	cancel()
	if err != nil {
		r.Error = err.Error()
	}
	out, merr := json.Marshal(r)
	if merr != nil {
		fmt.Fprintln(os.Stderr, "upstream-go: encoding the report:", merr)
		os.Exit(1)
	}
	fmt.Println(string(out))
	if err != nil {
		fmt.Fprintf(os.Stderr, "upstream-go: step %s failed: %v\n", r.FailedStep, err)
		os.Exit(1)
	}
}

// step runs one named step; the first error is recorded with its name.
func step(r *report, name string, fn func() error) error {
	if err := fn(); err != nil {
		r.FailedStep = name
		return err
	}
	r.Steps = append(r.Steps, name)
	return nil
}

func run(ctx context.Context, r *report, opts sandbox.Options) error {
	var client *sandbox.Client
	if err := step(r, "NewClient", func() (err error) {
		client, err = sandbox.NewClient(ctx, opts)
		return err
	}); err != nil {
		return err
	}
	// Whatever fails below, the claims this client made are deleted: a
	// failed run must not leave sandboxes behind in a shared test cluster.
	defer func() {
		cleanup, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		client.DeleteAll(cleanup)
	}()

	var sb *sandbox.Sandbox
	if err := step(r, "CreateSandbox", func() (err error) {
		sb, err = client.CreateSandbox(ctx, r.Pool, r.Namespace)
		if err == nil {
			r.Claim, r.Sandbox, r.Pod = sb.ClaimName(), sb.SandboxName(), sb.PodName()
		}
		return err
	}); err != nil {
		return err
	}

	steps := []struct {
		name string
		fn   func() error
	}{
		{"Run", func() error {
			res, err := sb.Run(ctx, "echo "+marker)
			if err != nil {
				return err
			}
			r.Stdout, r.ExitCode = res.Stdout, res.ExitCode
			if res.ExitCode != 0 || res.Stdout != marker+"\n" {
				return fmt.Errorf("got exit %d stdout %q stderr %q, want exit 0 stdout %q", res.ExitCode, res.Stdout, res.Stderr, marker+"\n")
			}
			return nil
		}},
		{"Write", func() error { return sb.Write(ctx, fileName, []byte(fileContent)) }},
		{"Read", func() error {
			data, err := sb.Read(ctx, fileName)
			r.FileContent = string(data)
			if err == nil && r.FileContent != fileContent {
				err = fmt.Errorf("read %q, wrote %q", r.FileContent, fileContent)
			}
			return err
		}},
		{"List", func() error {
			entries, err := sb.List(ctx, ".")
			if err != nil {
				return err
			}
			for _, e := range entries {
				r.Listed = append(r.Listed, e.Name)
			}
			if !slices.Contains(r.Listed, fileName) {
				return fmt.Errorf("listing of . has no %s: %v", fileName, r.Listed)
			}
			return nil
		}},
		{"Exists", func() (err error) {
			r.Exists, err = sb.Exists(ctx, fileName)
			if err == nil && !r.Exists {
				err = errors.New(fileName + " reported absent after Write")
			}
			return err
		}},
		{"ExistsMissing", func() error {
			found, err := sb.Exists(ctx, "no-such-file.txt")
			r.Missing = err == nil && !found
			if err == nil && found {
				err = errors.New("a file never written reported present")
			}
			return err
		}},
		{"GetSandbox", func() error {
			// Re-attach by claim name, as upstream's example does.
			again, err := client.GetSandbox(ctx, r.Claim, r.Namespace)
			if err != nil {
				return err
			}
			res, err := again.Run(ctx, "echo re-attached")
			if err == nil {
				r.Reattached = res.Stdout
			}
			return err
		}},
		{"ListAllSandboxes", func() (err error) {
			r.Claims, err = client.ListAllSandboxes(ctx, r.Namespace)
			if err == nil && !slices.Contains(r.Claims, r.Claim) {
				err = fmt.Errorf("claim %s not among %v", r.Claim, r.Claims)
			}
			return err
		}},
		{"DeleteSandbox", func() error { return client.DeleteSandbox(ctx, r.Claim, r.Namespace) }},
		{"ListAfterDelete", func() error {
			// A claim with finalizers stays listed until the controller lets
			// it go, so poll until it is gone (bounded by the flow's deadline).
			for {
				names, err := client.ListAllSandboxes(ctx, r.Namespace)
				if err != nil {
					return err
				}
				r.ClaimsAfter = names
				if !slices.Contains(names, r.Claim) {
					return nil
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("claim %s still listed after DeleteSandbox: %w", r.Claim, ctx.Err())
				case <-time.After(500 * time.Millisecond):
				}
			}
		}},
	}
	for _, s := range steps {
		if err := step(r, s.name, s.fn); err != nil {
			return err
		}
	}
	return nil
}
