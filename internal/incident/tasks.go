package incident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/fault"
)

// collTasks holds incidents' tasks, each under "{incident}.{task}" as
// comments are.
const collTasks = "incidentTasks"

// taskStatuses are the cloud's.
var taskStatuses = []string{"New", "Completed"}

// ClientInfo names who created or changed a task: a user, or an automation
// rule (by name).
type ClientInfo struct {
	ObjectID string `json:"objectId,omitempty"`
	Name     string `json:"name,omitempty"`
}

// TaskProperties are a task's fields.
type TaskProperties struct {
	Title               string     `json:"title"`
	Description         string     `json:"description,omitempty"`
	Status              string     `json:"status"`
	CreatedBy           ClientInfo `json:"createdBy"`
	LastModifiedBy      ClientInfo `json:"lastModifiedBy"`
	CreatedTimeUtc      time.Time  `json:"createdTimeUtc"`
	LastModifiedTimeUtc time.Time  `json:"lastModifiedTimeUtc"`
}

// Task is a Microsoft.SecurityInsights/Incidents/Tasks resource: a step for
// whoever works the incident, added by hand or by an automation rule.
type Task struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Etag       string         `json:"etag"`
	Properties TaskProperties `json:"properties"`
}

const taskType = "Microsoft.SecurityInsights/Incidents/Tasks"

func (p *TaskProperties) validate() error {
	if strings.TrimSpace(p.Title) == "" || len(p.Title) > 150 {
		return bad("a task's title is required, at most 150 characters")
	}
	if len(p.Description) > 3000 {
		return bad("a task's description is at most 3000 characters")
	}
	if p.Status == "" {
		p.Status = "New"
	}
	if !slices.Contains(taskStatuses, p.Status) {
		return bad("a task's status must be one of %s, not '%s'", strings.Join(taskStatuses, ", "), fault.Shorten(p.Status))
	}
	return nil
}

// PutTask creates or updates a task of an incident on behalf of by. ifMatch
// is the etag the caller read, as for Put. The task's creator and creation
// time are kept across updates.
func (s *Incidents) PutTask(ctx context.Context, incidentID, taskID string, in TaskProperties, by ClientInfo, ifMatch string) (*Task, bool, error) {
	if err := validID(taskID); err != nil {
		return nil, false, err
	}
	if err := in.validate(); err != nil {
		return nil, false, err
	}
	if _, err := s.Get(ctx, incidentID); err != nil {
		return nil, false, err
	}
	key := incidentID + "." + taskID
	now := s.now().UTC()
	in.CreatedBy, in.CreatedTimeUtc = by, now
	old, err := s.docs.Get(ctx, s.workspace, collTasks, key)
	created := errors.Is(err, docstore.ErrNotFound)
	switch {
	case created && ifMatch != "" && ifMatch != "*":
		return nil, false, fault.New(fault.PreconditionFailed, "PreconditionFailed", "task '%s' does not exist, so no etag can match", taskID)
	case err != nil && !created:
		return nil, false, docstore.Refusal(err, "task", taskID)
	case !created:
		var prev TaskProperties
		if err := json.Unmarshal(old.Body, &prev); err != nil {
			return nil, false, fmt.Errorf("decode task %s: %w", key, err)
		}
		in.CreatedBy, in.CreatedTimeUtc = prev.CreatedBy, prev.CreatedTimeUtc
	}
	in.LastModifiedBy, in.LastModifiedTimeUtc = by, now
	body, _ := json.Marshal(in)
	etag, err := s.docs.Put(ctx, s.workspace, collTasks, key, body, docstore.IfMatch(ifMatch))
	if err != nil {
		return nil, false, docstore.Refusal(err, "task", taskID)
	}
	return s.task(incidentID, taskID, etag, in), created, nil
}

func (s *Incidents) task(incidentID, taskID, etag string, p TaskProperties) *Task {
	return &Task{ID: s.idPrefix + incidentID + "/tasks/" + taskID, Name: taskID, Type: taskType, Etag: docstore.QuoteETag(etag), Properties: p}
}

// Tasks lists an incident's tasks, oldest first.
func (s *Incidents) Tasks(ctx context.Context, incidentID string) ([]Task, error) {
	if _, err := s.Get(ctx, incidentID); err != nil {
		return nil, err
	}
	docs, err := s.docs.List(ctx, s.workspace, collTasks)
	if err != nil {
		return nil, docstore.Refusal(err, "tasks", incidentID)
	}
	out := []Task{}
	for _, d := range docs {
		tid, ok := strings.CutPrefix(d.ID, incidentID+".")
		if !ok {
			continue
		}
		var p TaskProperties
		if err := json.Unmarshal(d.Body, &p); err != nil {
			return nil, fmt.Errorf("decode task %s: %w", d.ID, err)
		}
		out = append(out, *s.task(incidentID, tid, d.ETag, p))
	}
	slices.SortFunc(out, func(a, b Task) int {
		if c := a.Properties.CreatedTimeUtc.Compare(b.Properties.CreatedTimeUtc); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// DeleteTasks deletes an incident's tasks, for when the incident is
// deleted: a new incident under the same ID must not inherit them.
func (s *Incidents) DeleteTasks(ctx context.Context, incidentID string) error {
	if err := validID(incidentID); err != nil {
		return err
	}
	docs, err := s.docs.List(ctx, s.workspace, collTasks)
	if err != nil {
		return docstore.Refusal(err, "tasks", incidentID)
	}
	var errs []error
	for _, d := range docs {
		if strings.HasPrefix(d.ID, incidentID+".") {
			if err := s.docs.Delete(ctx, s.workspace, collTasks, d.ID, ""); err != nil && !errors.Is(err, docstore.ErrNotFound) {
				errs = append(errs, docstore.Refusal(err, "task", d.ID))
			}
		}
	}
	return errors.Join(errs...)
}
