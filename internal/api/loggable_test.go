package api

import (
	"strings"
	"testing"
)

func TestLoggableIDKeepsWhatIsNotAClientIDOutOfLogs(t *testing.T) {
	const id = "b86a0d78-83dd-49b8-b249-613e1097da16"
	if got := loggableID(id); got != id {
		t.Fatalf("a client ID is logged as %q", got)
	}
	secret := "sws~Zm9vYmFyYmF6cXV4cXV1eA"
	if got := loggableID(secret); strings.Contains(got, "sws~") || strings.Contains(got, "Zm9v") {
		t.Fatalf("a secret pasted as the client ID reached the log: %q", got)
	}
}
