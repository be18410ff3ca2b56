package eventstore

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyDir copies the files of src into a new temp dir (Badger writes to the dir it opens).
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// The version-1 log written by the code before the format had a version (and
// hashes) opens with today's code, and every event reads back.
func TestV1FixtureOpensAndReads(t *testing.T) {
	dir := copyDir(t, filepath.Join("testdata", "v1log"))
	s, err := OpenBadger(dir, BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := testCtx(t)
	head, err := s.Head(ctx)
	if err != nil || head != 45 {
		t.Fatalf("head %d (%v), want 45", head, err)
	}
	recs, err := s.Read(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 45 {
		t.Fatalf("read %d records", len(recs))
	}
	for i, r := range recs {
		if r.Position != uint64(i+1) || r.ID == "" || r.Type == "" || len(r.Data) == 0 {
			t.Fatalf("record %d: %+v", i+1, r)
		}
	}
	if recs[0].Type != "OrganizationCreated" || recs[0].OrgID != "acme" || recs[44].Type != "MemberRemoved" {
		t.Fatalf("unexpected records: first %+v last %+v", recs[0], recs[44])
	}
	if v, _ := s.StreamVersion(ctx, "org-globex"); v != 15 {
		t.Fatalf("org-globex at version %d, want 15", v)
	}
	if _, ok, err := s.CommandReply(ctx, "org-acme", "add-acme-3"); err != nil || !ok {
		t.Fatalf("command reply of add-acme-3: %v %v", ok, err)
	}
	if err := s.VerifyValues(ctx); err != nil {
		t.Fatalf("checksum pass: %v", err)
	}
}

// The format-3 log written by the code before staged appends (testdata/v3log, TestGenerateFixture)
// is a format-4 log as it stands: the open writes the new version only, and every event reads
// back with its chain.
func TestV3FixtureMigratesByItsVersion(t *testing.T) {
	dir := copyDir(t, filepath.Join("testdata", "v3log"))
	var logs bytes.Buffer
	s, err := OpenBadger(dir, BadgerOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := testCtx(t)
	if !strings.Contains(logs.String(), "from_format=3") || !strings.Contains(logs.String(), "records=0") {
		t.Fatalf("open logged %q; want a migration from format 3 that rewrites no record", logs.String())
	}
	if ver := storedFormat(t, s); ver != FormatVersion {
		t.Fatalf("format %d after the open; want %d", ver, FormatVersion)
	}
	recs, err := s.Read(ctx, 1, 0)
	if err != nil || len(recs) != 45 {
		t.Fatalf("read %d records (%v); want 45", len(recs), err)
	}
	if recs[0].Type != "OrganizationCreated" || recs[0].OrgID != "acme" || recs[44].Type != "MemberRemoved" {
		t.Fatalf("unexpected records: first %+v last %+v", recs[0], recs[44])
	}
	if rep, err := s.Verify(ctx, 1); err != nil || !rep.OK() {
		t.Fatalf("chain: %+v %v", rep, err)
	}
	if v, _ := s.StreamVersion(ctx, "org-globex"); v != 15 {
		t.Fatalf("org-globex at version %d, want 15", v)
	}
	// The background pass finds the migrated log whole: every record indexed at its stream and
	// version, every command with its stored reply.
	if err := s.VerifyValues(ctx); err != nil {
		t.Fatalf("checksum pass: %v", err)
	}
}
