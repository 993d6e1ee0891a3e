package detection

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func spans(ws []window) string {
	s := ""
	for _, w := range ws {
		s += fmt.Sprintf("[%s,%s)%s ", w.start.Format("15:04"), w.end.Format("15:04"), w.outcome)
	}
	return s
}

func TestDueWindows(t *testing.T) {
	const day = 24 * time.Hour
	for _, tc := range []struct {
		name              string
		lastEnd, now      time.Time
		freq, period, ret time.Duration
		want              string
		wantEnd           time.Time
	}{
		{"first run covers one period back from now", time.Time{}, t0.Add(30 * time.Second),
			5 * time.Minute, time.Hour, 30 * day, "[09:00,10:00)ran ", t0.Add(30 * time.Second)},
		{"the first run's end is rounded up to the second", time.Time{}, t0.Add(1500 * time.Millisecond),
			5 * time.Minute, time.Hour, 30 * day, "[09:00,10:00)ran ", t0.Add(2 * time.Second)},
		{"not yet due", t0, t0.Add(4 * time.Minute), 5 * time.Minute, time.Hour, 30 * day, "", t0},
		{"due on time", t0, t0.Add(5 * time.Minute), 5 * time.Minute, time.Hour, 30 * day, "[09:05,10:05)ran ", t0.Add(5 * time.Minute)},
		{"due a little late is still one run on the grid", t0, t0.Add(9 * time.Minute), 5 * time.Minute, time.Hour, 30 * day, "[09:05,10:05)ran ", t0.Add(5 * time.Minute)},
		{"two missed runs are caught up from the last end", t0, t0.Add(10 * time.Minute), 5 * time.Minute, time.Hour, 30 * day,
			"[09:10,10:10)caughtUp ", t0.Add(10 * time.Minute)},
		{"hours missed are covered by whole periods ending on the grid", t0, t0.Add(150*time.Minute + 20*time.Second), 5 * time.Minute, time.Hour, 30 * day,
			"[10:00,11:00)caughtUp [11:00,12:00)caughtUp [11:30,12:30)caughtUp ", t0.Add(150 * time.Minute)},
		{"nothing before the retention horizon", t0, t0.Add(3 * day), time.Hour, 12 * time.Hour, 1 * day,
			"[10:00,22:00)caughtUp [22:00,10:00)caughtUp ", t0.Add(3 * day)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, end := dueWindows(tc.lastEnd, tc.now, tc.freq, tc.period, tc.ret)
			if got := spans(ws); got != tc.want {
				t.Errorf("windows %s, want %s", got, tc.want)
			}
			if !end.Equal(tc.wantEnd) {
				t.Errorf("new last end %s, want %s", end, tc.wantEnd)
			}
		})
	}
}

// TestCatchUpCoversEveryMissedMinuteOnce checks, for many outages, that the
// caught-up windows leave no gap between the last run and the new grid
// point, and that a long outage is worked through in bounded ticks.
func TestCatchUpCoversEveryMissedMinuteOnce(t *testing.T) {
	for _, c := range []struct{ freq, period time.Duration }{
		{5 * time.Minute, 5 * time.Minute}, {5 * time.Minute, time.Hour}, {time.Hour, 14 * 24 * time.Hour}, {15 * time.Minute, 2 * time.Hour},
	} {
		for _, down := range []time.Duration{2 * c.freq, 7*c.freq + time.Minute, 3 * 24 * time.Hour, 40 * 24 * time.Hour} {
			lastEnd, now := t0, t0.Add(down)
			horizon := now.Add(-30 * 24 * time.Hour)
			covered := lastEnd
			if covered.Before(horizon) {
				covered = horizon
			}
			for ticks := 0; ; ticks++ {
				if ticks > 1000 {
					t.Fatalf("freq %s period %s down %s: catch-up does not end", c.freq, c.period, down)
				}
				ws, end := dueWindows(lastEnd, now, c.freq, c.period, 30*24*time.Hour)
				if len(ws) == 0 {
					break
				}
				if len(ws) > maxCatchUpWindows {
					t.Fatalf("%d windows in one tick", len(ws))
				}
				for _, w := range ws {
					if w.start.After(covered) {
						t.Fatalf("freq %s period %s down %s: gap [%s, %s)", c.freq, c.period, down, covered, w.start)
					}
					if w.end.Sub(w.start) != c.period {
						t.Fatalf("window %s..%s is not one period", w.start, w.end)
					}
					covered = maxTime(covered, w.end)
				}
				lastEnd = end
			}
			if now.Sub(covered) >= c.freq {
				t.Errorf("freq %s period %s down %s: caught up to %s only, now %s", c.freq, c.period, down, covered, now)
			}
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func TestLateWindowsHoldEachLateRowOnce(t *testing.T) {
	first := t0 // the earliest window this run evaluates starts at 10:00
	period := time.Hour
	minutes := []time.Time{
		t0.Add(-1 * time.Minute),              // 09:59 → [09:00,10:00)
		t0.Add(-30 * time.Minute),             // 09:30 → same window
		t0.Add(-61 * time.Minute),             // 08:59 → [08:00,09:00)
		t0.Add(-5 * time.Hour),                // 05:00 → [05:00,06:00)
		t0.Add(5 * time.Minute),               // not before first: this run's windows hold it
		t0.Add(-60*time.Minute - time.Second), // minute 08:59:59 spans nothing new
	}
	got := spans(lateWindows(minutes, first, period))
	if want := "[05:00,06:00)late [08:00,09:00)late [09:00,10:00)late "; got != want {
		t.Fatalf("late windows %s, want %s", got, want)
	}
	// a minute straddling a window boundary is evaluated in both windows
	got = spans(lateWindows([]time.Time{t0.Add(-60*time.Minute - 30*time.Second)}, first, period))
	if want := "[08:00,09:00)late [09:00,10:00)late "; got != want {
		t.Fatalf("straddling minute: %s, want %s", got, want)
	}
}
