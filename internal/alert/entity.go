package alert

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/sealwatch/sealwatch/internal/fault"
)

// EntityResourceType is the type of an entity resource, and of an alert
// (the cloud answers alerts as entities of kind SecurityAlert).
const EntityResourceType = "Microsoft.SecurityInsights/Entities"

// Entity is one thing an alert is about: an account, a host, an address…
// Kind is the cloud's entity kind (Account, Host, Ip, Url, …) and
// Properties its properties as the cloud names them (accountName,
// hostName, address, …).
type Entity struct {
	Kind       string         `json:"kind"`
	Properties map[string]any `json:"properties"`
}

// entityType is what a rule's entity mapping type becomes: the cloud's
// entity kind and, for each identifier a mapping may name, the property
// it fills.
type entityType struct {
	kind        string
	identifiers map[string]string // identifier → property
}

// entityTypes are the rule entity types and their identifiers, as the
// cloud documents them. A few identifiers are composite: an Account's or
// a Host's FullName is split (see splitFullName).
var entityTypes = map[string]entityType{
	"Account": {"Account", map[string]string{
		"Name": "accountName", "FullName": "", "NTDomain": "ntDomain", "DnsDomain": "dnsDomain",
		"UPNSuffix": "upnSuffix", "Sid": "sid", "AadTenantId": "aadTenantId", "AadUserId": "aadUserId",
		"PUID": "puid", "IsDomainJoined": "isDomainJoined", "DisplayName": "displayName", "ObjectGuid": "objectGuid"}},
	"Host": {"Host", map[string]string{
		"HostName": "hostName", "FullName": "", "DnsDomain": "dnsDomain", "NTDomain": "ntDomain",
		"NetBiosName": "netBiosName", "AzureID": "azureID", "OMSAgentID": "omsAgentID", "OSFamily": "osFamily",
		"OSVersion": "osVersion", "IsDomainJoined": "isDomainJoined"}},
	"IP":               {"Ip", map[string]string{"Address": "address"}},
	"URL":              {"Url", map[string]string{"Url": "url"}},
	"DNS":              {"DnsResolution", map[string]string{"DomainName": "domainName"}},
	"FileHash":         {"FileHash", map[string]string{"Algorithm": "algorithm", "Value": "hashValue"}},
	"File":             {"File", map[string]string{"Name": "fileName", "Directory": "directory"}},
	"Process":          {"Process", map[string]string{"ProcessId": "processId", "CommandLine": "commandLine", "ElevationToken": "elevationToken", "CreationTimeUtc": "creationTimeUtc"}},
	"Malware":          {"Malware", map[string]string{"Name": "malwareName", "Category": "category"}},
	"CloudApplication": {"CloudApplication", map[string]string{"AppId": "appId", "Name": "appName", "InstanceName": "instanceName"}},
	"AzureResource":    {"AzureResource", map[string]string{"ResourceId": "resourceId"}},
	"RegistryKey":      {"RegistryKey", map[string]string{"Hive": "hive", "Key": "key"}},
	"RegistryValue":    {"RegistryValue", map[string]string{"Name": "valueName", "Value": "valueData", "ValueType": "valueType"}},
	"SecurityGroup":    {"SecurityGroup", map[string]string{"DistinguishedName": "distinguishedName", "SID": "sid", "ObjectGuid": "objectGuid"}},
	"Mailbox": {"Mailbox", map[string]string{
		"MailboxPrimaryAddress": "mailboxPrimaryAddress", "DisplayName": "displayName", "Upn": "upn",
		"ExternalDirectoryObjectId": "externalDirectoryObjectId", "RiskLevel": "riskLevel"}},
	"MailCluster": {"MailCluster", camel("NetworkMessageIds", "CountByDeliveryStatus", "CountByThreatType",
		"CountByProtectionStatus", "Threats", "Query", "QueryTime", "MailCount", "IsVolumeAnomaly", "Source",
		"ClusterSourceIdentifier", "ClusterSourceType", "ClusterQueryStartTime", "ClusterQueryEndTime", "ClusterGroup")},
	"MailMessage": {"MailMessage", camel("Recipient", "Urls", "Threats", "Sender", "P1Sender", "P1SenderDisplayName",
		"P1SenderDomain", "SenderIP", "P2Sender", "P2SenderDisplayName", "P2SenderDomain", "ReceivedDate",
		"NetworkMessageId", "InternetMessageId", "Subject", "BodyFingerprintBin1", "BodyFingerprintBin2",
		"BodyFingerprintBin3", "BodyFingerprintBin4", "BodyFingerprintBin5", "AntispamDirection", "DeliveryAction",
		"DeliveryLocation", "Language", "ThreatDetectionMethods")},
	"SubmissionMail": {"SubmissionMail", camel("SubmissionId", "SubmissionDate", "Submitter", "NetworkMessageId",
		"Timestamp", "Recipient", "Sender", "SenderIp", "Subject", "ReportType")},
}

// camel maps identifiers whose property is the identifier with its first
// letter lowered, as the cloud names most of them.
func camel(identifiers ...string) map[string]string {
	m := make(map[string]string, len(identifiers))
	for _, id := range identifiers {
		m[id] = strings.ToLower(id[:1]) + id[1:]
	}
	return m
}

// caseless are properties the cloud compares without case: names of
// accounts, hosts and domains, addresses of mail, GUIDs and SIDs.
var caseless = map[string]bool{
	"accountName": true, "ntDomain": true, "dnsDomain": true, "upnSuffix": true, "sid": true,
	"aadTenantId": true, "aadUserId": true, "objectGuid": true, "hostName": true, "netBiosName": true,
	"domainName": true, "hashValue": true, "algorithm": true, "azureID": true, "omsAgentID": true,
	"mailboxPrimaryAddress": true, "upn": true, "recipient": true, "sender": true, "p1Sender": true,
	"p2Sender": true, "submitter": true, "distinguishedName": true, "resourceId": true,
}

// Identifiers lists the identifiers a rule's entity mapping of entityType
// may name, sorted; nil for an unknown type.
func Identifiers(entityType string) []string {
	t, ok := entityTypes[entityType]
	if !ok {
		return nil
	}
	return slices.Sorted(maps.Keys(t.identifiers))
}

// EntityKind is the kind of the entities of a rule's entityType (IP → Ip,
// DNS → DnsResolution); "" for an unknown type.
func EntityKind(entityType string) string {
	return entityTypes[entityType].kind
}

// EntityTypes lists the entity types a rule may map, sorted.
func EntityTypes() []string {
	return slices.Sorted(maps.Keys(entityTypes))
}

// NewEntity makes the entity of a rule's mapping of entityType, the
// identifiers being the mapped columns' values of one result row. Empty
// values are left out (a row may lack a column's value); an entity with
// no value at all, an unknown type or identifier is refused.
func NewEntity(entityType string, identifiers map[string]string) (Entity, error) {
	t, ok := entityTypes[entityType]
	if !ok {
		return Entity{}, bad("'%s' is not an entity type; entity types are %s", fault.Shorten(entityType), strings.Join(EntityTypes(), ", "))
	}
	e := Entity{Kind: t.kind, Properties: map[string]any{}}
	for _, id := range slices.Sorted(maps.Keys(identifiers)) { // FullName before the parts it may be overridden by
		prop, ok := t.identifiers[id]
		if !ok {
			return Entity{}, bad("'%s' is not an identifier of entity type %s; its identifiers are %s", fault.Shorten(id), entityType, strings.Join(Identifiers(entityType), ", "))
		}
		v := strings.TrimSpace(identifiers[id])
		switch {
		case v == "":
		case len(v) > maxValueBytes:
			return Entity{}, bad("the %s of a %s entity is %d bytes; at most %d", id, entityType, len(v), maxValueBytes)
		case id == "FullName":
			splitFullName(t.kind, v, e.Properties)
		case id == "IsDomainJoined":
			e.Properties[prop] = strings.EqualFold(v, "true")
		default:
			e.Properties[prop] = v
		}
	}
	if len(e.Properties) == 0 {
		return Entity{}, bad("a %s entity needs a value for at least one of its identifiers", entityType)
	}
	return e, nil
}

// maxValueBytes bounds an identifier's value: an entity names a thing,
// it does not carry a row.
const maxValueBytes = 4096

// splitFullName fills an account's name and domain from DOMAIN\name or
// name@suffix, a host's name and DNS domain from host.domain, as the cloud
// reads a FullName. Parts mapped on their own take precedence.
func splitFullName(kind, v string, props map[string]any) {
	set := func(k, v string) {
		if _, ok := props[k]; !ok && v != "" {
			props[k] = v
		}
	}
	if kind == "Host" {
		host, domain, _ := strings.Cut(v, ".")
		set("hostName", host)
		set("dnsDomain", domain)
		return
	}
	if domain, name, ok := strings.Cut(v, `\`); ok {
		set("accountName", name)
		set("ntDomain", domain)
		return
	}
	if name, suffix, ok := strings.Cut(v, "@"); ok {
		set("accountName", name)
		set("upnSuffix", suffix)
		return
	}
	set("accountName", v)
}

// Key is the entity's identity: its kind and properties, sorted, values
// compared as the cloud compares them (names without case, addresses in
// their canonical form). Two entities with one key are one entity.
func (e Entity) Key() string {
	var b strings.Builder
	b.WriteString(e.Kind)
	for _, k := range slices.Sorted(maps.Keys(e.Properties)) {
		b.WriteByte('|')
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(canonical(k, e.Properties[k]))
	}
	return b.String()
}

func canonical(prop string, v any) string {
	s, ok := v.(string)
	if !ok {
		j, _ := json.Marshal(v)
		return string(j)
	}
	if prop == "address" {
		if a, err := netip.ParseAddr(s); err == nil {
			return a.Unmap().String()
		}
	}
	if caseless[prop] {
		return strings.ToLower(s)
	}
	return s
}

// ID is a stable GUID-shaped ID of the entity, derived from its key: the
// same entity has the same ID in every incident of a workspace.
func (e Entity) ID() string {
	h := sha256.Sum256([]byte("sealwatch/entity/v1\x00" + e.Key()))
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// friendlyNames are, in order, the properties an entity's friendlyName is
// taken from: the first it has.
var friendlyNames = []string{"accountName", "hostName", "address", "url", "domainName", "fileName", "hashValue",
	"commandLine", "processId", "appName", "malwareName", "resourceId", "key", "valueName", "distinguishedName",
	"mailboxPrimaryAddress", "subject", "networkMessageId", "submissionId", "networkMessageIds"}

// EntityResource is an entity as the API answers it.
type EntityResource struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Kind       string         `json:"kind"`
	Properties map[string]any `json:"properties"`
}

// Resource is the entity as an entity resource of the workspace whose
// resource ID is workspaceID, with the friendlyName the cloud adds.
func (e Entity) Resource(workspaceID string) EntityResource {
	props := maps.Clone(e.Properties)
	for _, k := range friendlyNames {
		if v, ok := props[k]; ok {
			props["friendlyName"] = fmt.Sprint(v)
			break
		}
	}
	id := e.ID()
	return EntityResource{ID: workspaceID + "/providers/Microsoft.SecurityInsights/entities/" + id, Name: id,
		Type: EntityResourceType, Kind: e.Kind, Properties: props}
}

// Merge appends to into the entities of from that it does not hold yet,
// by key, keeping to's order.
func Merge(into []Entity, from ...Entity) []Entity {
	seen := make(map[string]bool, len(into)+len(from))
	for _, e := range into {
		seen[e.Key()] = true
	}
	for _, e := range from {
		if k := e.Key(); !seen[k] {
			seen[k] = true
			into = append(into, e)
		}
	}
	return into
}

// tableEntity is an entity as the SecurityAlert table's Entities column
// holds it: the rule's identifiers as keys, the type in lower case, a
// "$id" that other entities may refer to.
func (e Entity) tableEntity(n int) json.RawMessage {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"$id":"%d","Type":%s`, n, jsonString(strings.ToLower(e.Kind)))
	props := identifierOf(e.Kind)
	for _, k := range slices.Sorted(maps.Keys(e.Properties)) {
		name := props[k]
		if name == "" {
			name = k
		}
		v, _ := json.Marshal(e.Properties[k])
		fmt.Fprintf(&b, ",%s:%s", jsonString(name), v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// identifierOf maps a kind's properties back to the rule identifiers
// they come from.
func identifierOf(kind string) map[string]string {
	for _, t := range entityTypes {
		if t.kind == kind {
			m := make(map[string]string, len(t.identifiers))
			for id, prop := range t.identifiers {
				if prop != "" {
					m[prop] = id
				}
			}
			return m
		}
	}
	return nil
}

func jsonString(s string) string {
	j, _ := json.Marshal(s)
	return string(j)
}
