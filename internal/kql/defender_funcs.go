package kql

// defenderCloudFuncs are the functions Microsoft Defender XDR's advanced hunting builds in
// that answer from Microsoft's service rather than from the workspace's tables, each with what
// it asks the service. A sealed workspace cannot have them: calling one would send the query's
// values to Microsoft. Naming them in the error says why a hunting query carried over does not
// bind, where "unknown function" would suggest a typing mistake.
var defenderCloudFuncs = map[string]string{
	"FileProfile":                   "looks file hashes up in Microsoft's global file intelligence",
	"DeviceFromIP":                  "asks Microsoft Defender which devices held an IP address",
	"AssignedIPAddresses":           "asks Microsoft Defender which IP addresses a device held",
	"SeenBy":                        "asks Microsoft Defender which devices discovered a device",
	"GetAnomalousBehaviorsAbout":    "reads the anomalous behaviors Microsoft Defender's models found",
	"GetAnomalousBehaviorsByKind":   "reads the anomalous behaviors Microsoft Defender's models found",
	"GetAnomalousBehaviorsByValue":  "reads the anomalous behaviors Microsoft Defender's models found",
	"GetFirstSeenBehaviors":         "reads the behaviors Microsoft Defender's models found",
	"GetHighVolumeAnomalyBehaviors": "reads the anomalous behaviors Microsoft Defender's models found",
	"GetUncommonValueBehaviors":     "reads the behaviors Microsoft Defender's models found",
}

// defenderCloudCallErr is the error for a call of one of defenderCloudFuncs, or nil for any
// other name. Function names are case-sensitive, so only the exact spelling is meant.
func defenderCloudCallErr(x *astCall) error {
	what, ok := defenderCloudFuncs[x.Name]
	if !ok {
		return nil
	}
	return bindErr(x.P, "%s() is a Microsoft Defender XDR function that %s; a sealed workspace does not have it, as calling it would send the query's values to Microsoft; enrich from a table or watchlist of the workspace instead", x.Name, what)
}
