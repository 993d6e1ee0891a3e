package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
)

// onboardingPath is under a workspace: its one onboarding state.
const onboardingPath = "/providers/Microsoft.SecurityInsights/onboardingStates/default"

// onboardingState says a workspace is onboarded, and whether under the
// customer-managed key of its cluster.
type onboardingState struct {
	Properties struct {
		CustomerManagedKey bool `json:"customerManagedKey"`
	} `json:"properties"`
}

// workspaceRef are the flags naming the workspace a sentinel command is about.
type workspaceRef struct {
	name          string
	resourceGroup string
}

func (f *workspaceRef) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.name, "workspace", "w", "", "workspace name")
	cmd.Flags().StringVarP(&f.resourceGroup, "resource-group", "g", "", "the workspace's resource group; found by listing the workspaces when omitted")
	_ = cmd.MarkFlagRequired("workspace")
}

// resolve finds the resource group and name of the workspace ref names. With
// -g they are taken as given, so that a principal with a role on the
// workspace but not Owner (a Responder) can work in it; without, the
// workspace is found by listing.
func (a *app) resolve(ctx context.Context, subscription string, ref workspaceRef) (m *mgmt, rg, ws string, err error) {
	m, err = a.mgmt(subscription)
	if err != nil {
		return nil, "", "", err
	}
	if ref.resourceGroup != "" {
		return m, ref.resourceGroup, ref.name, nil
	}
	found, _, rg, err := m.findWorkspace(ctx, ref.name, "")
	if err != nil {
		return nil, "", "", err
	}
	return m, rg, found.Name, nil
}

func (a *app) sentinelCommand() *cobra.Command {
	var subscription string
	s := a.group("sentinel", "Onboard workspaces to the security features, under a customer-managed key or not",
		a.sentinelOnboardCommand(&subscription), a.sentinelShowCommand(&subscription))
	s.PersistentFlags().StringVar(&subscription, "subscription", "", "subscription ID; default the tenant ID")
	return s
}

func (a *app) printOnboarding(w io.Writer, ws *workspaceResource, raw json.RawMessage) error {
	if a.output == outputJSON {
		return writeJSON(w, raw)
	}
	var o onboardingState
	if err := json.Unmarshal(raw, &o); err != nil {
		return fmt.Errorf("decode the onboarding state: %w", err)
	}
	cmk := o.Properties.CustomerManagedKey
	return writeTable(w, []string{"WORKSPACE", "RESOURCE GROUP", "ONBOARDED", "CUSTOMER-MANAGED KEY", "CLUSTER"},
		[][]string{{ws.Name, resourceGroupOf(ws.ID), "yes", yesNo(&cmk), lastSegment(ws.Properties.ClusterResourceID)}})
}

func (a *app) sentinelOnboardCommand(subscription *string) *cobra.Command {
	var (
		ref workspaceRef
		cmk bool
	)
	cmd := &cobra.Command{
		Use:   "onboard --workspace W [--cmk]",
		Short: "Onboard a workspace, with --cmk under its cluster's customer-managed key",
		Long: "onboard turns the security features on for a workspace. With --cmk the workspace must be\n" +
			"linked to a cluster whose key is set and accessible. The choice is permanent: a workspace\n" +
			"onboarded without the key can never move under it, and one onboarded with it stays linked.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		ws, _, rg, err := m.findWorkspace(ctx, ref.name, ref.resourceGroup)
		if err != nil {
			return err
		}
		body := map[string]any{"properties": map[string]any{"customerManagedKey": cmk}}
		var raw json.RawMessage
		if err := m.cl.Do(ctx, http.MethodPut, m.opsPath(kindWorkspace, rg, ws.Name, onboardingPath), client.AudienceManagement, body, &raw); err != nil {
			return fmt.Errorf("onboard workspace %s: %w", ws.Name, err)
		}
		return a.printOnboarding(cmd.OutOrStdout(), ws, raw)
	})
	ref.register(cmd)
	cmd.Flags().BoolVar(&cmk, "cmk", false, "seal the workspace's data under its cluster's customer-managed key (permanent)")
	return cmd
}

func (a *app) sentinelShowCommand(subscription *string) *cobra.Command {
	var ref workspaceRef
	cmd := &cobra.Command{
		Use:   "show --workspace W",
		Short: "Show whether a workspace is onboarded, and whether under a customer-managed key",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		ws, _, rg, err := m.findWorkspace(ctx, ref.name, ref.resourceGroup)
		if err != nil {
			return err
		}
		var raw json.RawMessage
		if err := m.cl.Do(ctx, http.MethodGet, m.opsPath(kindWorkspace, rg, ws.Name, onboardingPath), client.AudienceManagement, nil, &raw); err != nil {
			return fmt.Errorf("get the onboarding state of workspace %s: %w", ws.Name, err)
		}
		return a.printOnboarding(cmd.OutOrStdout(), ws, raw)
	})
	ref.register(cmd)
	return cmd
}
