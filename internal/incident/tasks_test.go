package incident

import (
	"context"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/fault"
)

func TestTasksBelongToTheirIncidentAndKeepTheirCreator(t *testing.T) {
	s := newIncidents(t)
	ctx := context.Background()
	if _, _, err := s.PutTask(ctx, "missing", "t1", TaskProperties{Title: "x"}, ClientInfo{ObjectID: "u1"}, ""); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("a task on a missing incident: %v", err)
	}
	for _, id := range []string{"a", "ab"} {
		if _, _, err := s.Put(ctx, id, Properties{Title: "t", Severity: "Low"}, ""); err != nil {
			t.Fatal(err)
		}
	}
	task, created, err := s.PutTask(ctx, "a", "t1", TaskProperties{Title: "Reset the password"}, ClientInfo{Name: "Automation rule: r"}, "")
	if err != nil || !created || task.Properties.Status != "New" || !strings.HasSuffix(task.ID, "/incidents/a/tasks/t1") {
		t.Fatalf("create: %v %v %+v", err, created, task)
	}
	if _, _, err := s.PutTask(ctx, "ab", "t2", TaskProperties{Title: "other incident's"}, ClientInfo{ObjectID: "u1"}, ""); err != nil {
		t.Fatal(err)
	}
	done, created, err := s.PutTask(ctx, "a", "t1", TaskProperties{Title: "Reset the password", Status: "Completed"}, ClientInfo{ObjectID: "u2"}, task.Etag)
	if err != nil || created || done.Properties.CreatedBy.Name != "Automation rule: r" || done.Properties.LastModifiedBy.ObjectID != "u2" {
		t.Fatalf("complete: %v %+v", err, done)
	}
	if _, _, err := s.PutTask(ctx, "a", "t1", TaskProperties{Title: "x"}, ClientInfo{}, task.Etag); fault.KindOf(err) != fault.PreconditionFailed {
		t.Fatalf("a stale etag: %v", err)
	}
	list, err := s.Tasks(ctx, "a")
	if err != nil || len(list) != 1 || list[0].Properties.Status != "Completed" {
		t.Fatalf("tasks of a: %v %+v", err, list)
	}
	if err := s.DeleteTasks(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.Tasks(ctx, "a"); len(list) != 0 {
		t.Fatalf("tasks left: %+v", list)
	}
	if list, _ := s.Tasks(ctx, "ab"); len(list) != 1 {
		t.Fatalf("another incident's task was deleted: %+v", list)
	}
}

func TestBadTasksAreRefused(t *testing.T) {
	s := newIncidents(t)
	ctx := context.Background()
	s.Put(ctx, "a", Properties{Title: "t", Severity: "Low"}, "")
	for name, p := range map[string]TaskProperties{
		"no title":         {},
		"long title":       {Title: strings.Repeat("x", 151)},
		"long description": {Title: "t", Description: strings.Repeat("x", 3001)},
		"unknown status":   {Title: "t", Status: "Done"},
	} {
		if _, _, err := s.PutTask(ctx, "a", "t1", p, ClientInfo{}, ""); fault.KindOf(err) != fault.Invalid {
			t.Errorf("%s: %v", name, err)
		}
	}
}
