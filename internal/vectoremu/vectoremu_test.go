package vectoremu

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func get(t *testing.T, s *Server, path, token string) (*http.Response, map[string]json.RawMessage) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestInfoCountsReadyAndPending(t *testing.T) {
	s := Start(t, "tok", 4)
	s.Add("", "a", 3)
	s.Add("docs", "d", 2)
	post(t, s, "/upsert/docs", `[{"id":"x","vector":[1,0,0,0]}]`)

	_, body := get(t, s, "/info", "tok")
	var info infoResult
	if err := json.Unmarshal(body["result"], &info); err != nil {
		t.Fatal(err)
	}
	if info.VectorCount != 5 || info.PendingVectorCount != 1 {
		t.Errorf("counts = %d ready, %d pending, want 5 and 1", info.VectorCount, info.PendingVectorCount)
	}
	if got := info.Namespaces["docs"]; got.VectorCount != 2 || got.PendingVectorCount != 1 {
		t.Errorf("docs namespace = %+v, want 2 ready and 1 pending", got)
	}
	if info.IndexSize != 6*(4*4+64) {
		t.Errorf("index size = %d, want %d", info.IndexSize, 6*(4*4+64))
	}
	s.Index()
	_, body = get(t, s, "/info", "tok")
	_ = json.Unmarshal(body["result"], &info)
	if info.PendingVectorCount != 0 || info.VectorCount != 6 {
		t.Errorf("after Index: %d ready, %d pending, want 6 and 0", info.VectorCount, info.PendingVectorCount)
	}
}

func TestRejectsWrongToken(t *testing.T) {
	s := Start(t, "tok", 2)
	resp, body := get(t, s, "/info", "nope")
	if resp.StatusCode != http.StatusUnauthorized || body["error"] == nil {
		t.Errorf("status %d body %s, want 401 with an error", resp.StatusCode, body)
	}
}

func TestQueryReturnsNearestFirst(t *testing.T) {
	s := Start(t, "tok", 2)
	post(t, s, "/upsert", `[{"id":"east","vector":[1,0]},{"id":"north","vector":[0,1]}]`)
	s.Index()
	body := post(t, s, "/query", `{"vector":[0.9,0.1],"topK":1}`)
	var matches []match
	if err := json.Unmarshal(body["result"], &matches); err != nil {
		t.Fatal(err)
	}
	if len(matches) != 1 || matches[0].ID != "east" {
		t.Errorf("matches = %+v, want east only", matches)
	}
	if s.Queries() != 1 {
		t.Errorf("Queries() = %d, want 1", s.Queries())
	}
}

func post(t *testing.T, s *Server, path, body string) map[string]json.RawMessage {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: status %d: %s", path, resp.StatusCode, out["error"])
	}
	return out
}
