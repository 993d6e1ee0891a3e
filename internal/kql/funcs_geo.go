package kql

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// This file holds geo_info_from_ip_address(), which the cloud answers from MaxMind's GeoLite2
// City data. A sealed workspace fetches nothing behind its operator's back, so here the
// operator provides the database (GeoLite2-City or any MMDB file with the same record layout)
// through Options.GeoIP; without one the function answers null.

// GeoIPDB is an open GeoIP database in MaxMind DB (MMDB) format. It is safe for concurrent use
// by the queries of a node; Close it when no query uses it any more.
type GeoIPDB struct {
	r *maxminddb.Reader
}

// OpenGeoIP opens the MMDB file at path. It refuses a file that is not an MMDB database.
func OpenGeoIP(path string) (*GeoIPDB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open GeoIP database %s: %w", path, err)
	}
	return &GeoIPDB{r: r}, nil
}

// Close releases the database.
func (g *GeoIPDB) Close() error { return g.r.Close() }

// geoRecord is the part of a GeoIP2/GeoLite2 City record the function reports.
type geoRecord struct {
	Country struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"country"`
	Subdivisions []struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"subdivisions"`
	City struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"city"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

// info is the function's answer for one address: a bag of country, state (the first
// subdivision), city (their English names), latitude and longitude, with the fields the
// database knows; null for an address that is not valid or that the database does not hold.
func (g *GeoIPDB) info(s string) any {
	ip, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return nil
	}
	res := g.r.Lookup(ip.Unmap())
	if !res.Found() {
		return nil
	}
	var rec geoRecord
	if err := res.Decode(&rec); err != nil {
		return nil
	}
	out := map[string]any{}
	if n := rec.Country.Names["en"]; n != "" {
		out["country"] = n
	}
	if len(rec.Subdivisions) > 0 {
		if n := rec.Subdivisions[0].Names["en"]; n != "" {
			out["state"] = n
		}
	}
	if n := rec.City.Names["en"]; n != "" {
		out["city"] = n
	}
	if rec.Location.Latitude != nil && rec.Location.Longitude != nil {
		out["latitude"], out["longitude"] = *rec.Location.Latitude, *rec.Location.Longitude
	}
	return out
}

// registerGeoFuncs adds this file's functions to the table built in funcs.go.
func registerGeoFuncs(m map[string]fnSpec) {
	m["geo_info_from_ip_address"] = fnSpec{min: 1, max: 1, ret: checked(TypeDynamic, kString),
		opts: func(o *Options) func([]any) any {
			if o == nil || o.GeoIP == nil {
				return func([]any) any { return nil }
			}
			db := o.GeoIP
			return func(a []any) any {
				s, ok := a[0].(string)
				if !ok {
					return nil
				}
				return db.info(s)
			}
		}}
}

// options are the options of the run being planned; nil while a query only compiles.
func (p *planner) options() *Options {
	if p.run == nil {
		return nil
	}
	return &p.run.opts
}
