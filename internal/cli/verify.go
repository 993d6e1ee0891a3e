package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
)

// verifyLine is one line of a verification's answer.
type verifyLine struct {
	Progress *struct {
		BytesDone  int64 `json:"bytesDone"`
		BytesTotal int64 `json:"bytesTotal"`
	} `json:"progress"`
	Result *verifyResult `json:"result"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type verifyResult struct {
	Workspace  string `json:"workspace"`
	CustomerID string `json:"customerId"`
	Healthy    bool   `json:"healthy"`
	Tables     int    `json:"tables"`
	Objects    int    `json:"objects"`
	Documents  int    `json:"documents"`
	Bytes      int64  `json:"bytes"`
	Damaged    []struct {
		Kind       string     `json:"kind"`
		Table      string     `json:"table"`
		Collection string     `json:"collection"`
		Object     string     `json:"object"`
		Problem    string     `json:"problem"`
		Detail     string     `json:"detail"`
		From       *time.Time `json:"from"`
		To         *time.Time `json:"to"`
	} `json:"damaged"`
}

// errDamaged ends verify with a non-zero exit when damage was found.
var errDamaged = errors.New("damaged data found")

func (a *app) verifyCommand() *cobra.Command {
	var (
		subscription string
		name, rg     string
	)
	cmd := &cobra.Command{
		Use:   "verify [--workspace W [-g RG]]",
		Short: "Authenticate every sealed object of a workspace (or of every workspace) and list what is damaged",
		Long: "verify reads and authenticates every sealed object of a workspace — each log table's manifest,\n" +
			"every segment (column chunks, indexes, bloom filters), every write-ahead log, every document —\n" +
			"and checks that nothing listed is missing, cut short, replaced or rolled back. It needs the\n" +
			"workspace's key. It prints what is damaged and exits with status 1 if anything is.\n" +
			"See \"Data integrity\" in docs/guide.md for what to do about damage.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		m, err := a.mgmt(subscription)
		if err != nil {
			return err
		}
		targets, err := a.verifyTargets(ctx, m, name, rg)
		if err != nil {
			return err
		}
		damaged := 0
		var results []*verifyResult
		for _, t := range targets {
			res, err := a.verifyOne(ctx, m, t.rg, t.name)
			if err != nil {
				return fmt.Errorf("verify workspace %s: %w", t.name, err)
			}
			results = append(results, res)
			damaged += len(res.Damaged)
		}
		if err := a.printVerify(cmd.OutOrStdout(), results); err != nil {
			return err
		}
		if damaged > 0 {
			return fmt.Errorf("%w: %s; restore each from a backup, and move away any unexpected object (see \"Data integrity\" in docs/guide.md)", errDamaged, count(damaged, "object"))
		}
		return nil
	})
	f := cmd.Flags()
	f.StringVar(&subscription, "subscription", "", "subscription ID; default the tenant ID")
	f.StringVar(&name, "workspace", "", "workspace name; all workspaces when omitted")
	f.StringVarP(&rg, "resource-group", "g", "", "the workspace's resource group; found by listing the workspaces when omitted")
	return cmd
}

type verifyTarget struct{ rg, name string }

func (a *app) verifyTargets(ctx context.Context, m *mgmt, name, rg string) ([]verifyTarget, error) {
	if name != "" {
		raw, group, err := m.findOps(ctx, kindWorkspace, name, rg, "-g")
		if err != nil {
			return nil, err
		}
		var w struct{ Name string }
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, fmt.Errorf("decode workspace %s: %w", name, err)
		}
		return []verifyTarget{{group, w.Name}}, nil
	}
	items, err := m.cl.ListAll(ctx, m.opsListPath(kindWorkspace, rg), client.AudienceManagement)
	if err != nil {
		return nil, fmt.Errorf("list workspaces: %w", err)
	}
	var out []verifyTarget
	for _, it := range items {
		var w struct{ ID, Name string }
		if err := json.Unmarshal(it, &w); err != nil {
			return nil, fmt.Errorf("decode workspace list: %w", err)
		}
		out = append(out, verifyTarget{resourceGroupOf(w.ID), w.Name})
	}
	return out, nil
}

// verifyOne verifies one workspace, showing its progress on a terminal.
func (a *app) verifyOne(ctx context.Context, m *mgmt, rg, name string) (*verifyResult, error) {
	var bar *progressbar.ProgressBar
	defer func() {
		if bar != nil {
			_ = bar.Finish() // clears its line for the result
		}
	}()
	var res *verifyResult
	err := m.cl.Stream(ctx, http.MethodPost, m.opsPath(kindWorkspace, rg, name, "/verify"), client.AudienceManagement,
		func(raw json.RawMessage) error {
			var line verifyLine
			if err := json.Unmarshal(raw, &line); err != nil {
				return fmt.Errorf("decode verify answer: %w", err)
			}
			switch {
			case line.Error != nil:
				return fmt.Errorf("the verification stopped: %s: %s", line.Error.Code, line.Error.Message)
			case line.Result != nil:
				res = line.Result
			case line.Progress != nil && a.interactive():
				if bar == nil {
					bar = a.newBar(line.Progress.BytesTotal, "verify "+clean(name), progressbar.OptionShowBytes(true))
				}
				bar.ChangeMax64(line.Progress.BytesTotal)
				bar.Set64(line.Progress.BytesDone)
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, errors.New("the node ended the verification without a result; run it again")
	}
	return res, nil
}

func (a *app) printVerify(w io.Writer, results []*verifyResult) error {
	if a.output == outputJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	for _, r := range results {
		state := "healthy"
		if !r.Healthy {
			state = "DAMAGED: " + count(len(r.Damaged), "object")
		}
		fmt.Fprintf(w, "workspace %s: %s (%s, %s of %d bytes, %s authenticated)\n", clean(r.Workspace), state,
			count(r.Tables, "table"), count(r.Objects, "log object"), r.Bytes, count(r.Documents, "document"))
		if len(r.Damaged) == 0 {
			continue
		}
		rows := [][]string{}
		for _, d := range r.Damaged {
			where := d.Table
			if d.Kind == "document" {
				where = d.Collection
			}
			rows = append(rows, []string{d.Kind, clean(where), clean(d.Object), d.Problem, rowsAtRisk(d.From, d.To), clean(d.Detail)})
		}
		if err := writeTable(w, []string{"KIND", "TABLE/COLLECTION", "OBJECT", "PROBLEM", "ROWS AT RISK", "DETAIL"}, rows); err != nil {
			return err
		}
	}
	return nil
}

// count is n and a noun, plural unless n is 1.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func rowsAtRisk(from, to *time.Time) string {
	if from == nil || to == nil {
		return "-"
	}
	return from.Format(time.RFC3339) + " to " + to.Format(time.RFC3339)
}
