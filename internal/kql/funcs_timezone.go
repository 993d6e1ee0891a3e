package kql

import (
	"fmt"
	"time"
	_ "time/tzdata" // the zones are part of the program, so a node answers the same on any host
)

// This file holds datetime_utc_to_local and datetime_local_to_utc, which convert between UTC
// and the wall clock of a named IANA time zone. A datetime has no zone of its own: a local
// datetime is the wall clock's reading stored as if it were UTC.

// registerTimezoneFuncs adds this file's functions to the table built in funcs.go.
func registerTimezoneFuncs(m map[string]fnSpec) {
	m["datetime_utc_to_local"] = fnSpec{min: 2, max: 2, ret: timezoneType, bind: bindTimezone(utcToLocal)}
	m["datetime_local_to_utc"] = fnSpec{min: 2, max: 2, ret: timezoneType, bind: bindTimezone(localToUTC)}
}

var kDatetime = argKind{TypeDatetime}

// timezoneType checks the arguments and refuses a constant zone the program does not know,
// which would otherwise give null on every row.
func timezoneType(a []cexpr) (Type, error) {
	if err := checkArgs(a, []argKind{kDatetime, kString}); err != nil {
		return TypeNull, err
	}
	if a[1].konst && a[1].t == TypeString {
		if _, err := loadZone(str(a[1].value())); err != nil {
			return TypeNull, err
		}
	}
	return TypeDatetime, nil
}

func loadZone(name string) (*time.Location, error) {
	if name == "" {
		return nil, fmt.Errorf("the time zone is empty; name an IANA zone such as \"Europe/Paris\"")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q; name an IANA zone such as \"Europe/Paris\"", name)
	}
	return loc, nil
}

// bindTimezone loads each zone once per run, a constant one as a zone read from the rows; an
// unknown one gives null. A run evaluates on one goroutine, so a plain map serves, bounded as
// regexCache is so that the distinct values of a column cannot grow it without end.
func bindTimezone(conv func(time.Time, *time.Location) time.Time) func([]cexpr) func([]any) any {
	return func([]cexpr) func([]any) any {
		zones := map[string]*time.Location{} // nil for an unknown name
		return func(a []any) any {
			t, ok := a[0].(time.Time)
			name, ok2 := a[1].(string)
			if !ok || !ok2 {
				return nil
			}
			loc, seen := zones[name]
			if !seen {
				loc, _ = loadZone(name)
				if len(zones) > 1024 {
					clear(zones)
				}
				zones[name] = loc
			}
			if loc == nil {
				return nil
			}
			return conv(t, loc)
		}
	}
}

// utcToLocal reads the zone's wall clock at instant t.
func utcToLocal(t time.Time, loc *time.Location) time.Time {
	_, off := t.In(loc).Zone()
	return t.Add(time.Duration(off) * time.Second)
}

// localToUTC finds the instant at which the zone's wall clock reads wall. Near a change of
// offset a reading can occur twice (the clock goes back): the earlier offset's standard time is
// taken, as .NET does. Or not at all (the clock goes forward): the offset after the change is
// taken, as the language's documentation shows for Europe/Brussels.
func localToUTC(wall time.Time, loc *time.Location) time.Time {
	offAt := func(u time.Time) time.Duration {
		_, off := u.In(loc).Zone()
		return time.Duration(off) * time.Second
	}
	// the offsets in force a day and a half either side cover any one change
	before, after := offAt(wall.Add(-36*time.Hour)), offAt(wall.Add(36*time.Hour))
	valid := func(off time.Duration) bool { return offAt(wall.Add(-off)) == off }
	vb, va := valid(before), valid(after)
	switch {
	case vb && va:
		return wall.Add(-min(before, after))
	case vb:
		return wall.Add(-before)
	case va:
		return wall.Add(-after)
	}
	return wall.Add(-max(before, after))
}
