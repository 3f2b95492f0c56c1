package storagetest

import (
	"fmt"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// testPages: paging through ListPage, whatever the page size, yields what
// List does, in order, with values; unlike List, with versions and times.
// Paging through ListValues yields the same names and values.
func testPages(t *testing.T, s storage.Store, owner string) {
	ctx := ctxT(t)
	kv := []string{"a", "1", "a0", "2", "b", "3", "\u00e9t\u00e9", "4", "a/", "5", "a/\U0010ffff", "6"}
	for i := range 12 {
		kv = append(kv, fmt.Sprintf("a/%02d", i), fmt.Sprintf("v%d", i))
	}
	put(t, s, owner, kv...)
	put(t, s, owner, "a/03", "again")
	for _, prefix := range []string{"", "a/", "a", "zz", "\u00e9"} {
		want, err := s.List(ctx, owner, prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, limit := range []int{1, 2, 5, 1000} {
			testValuePages(t, s, owner, prefix, limit, want)
			got := allPages(t, "ListPage", prefix, limit, len(want), func(after string) ([]storage.Secret, error) {
				return s.ListPage(ctx, owner, prefix, after, limit)
			})
			if len(got) != len(want) {
				t.Fatalf("prefix %q limit %d: %d secrets by pages, %d by List: %q", prefix, limit, len(got), len(want), names(got))
			}
			for i := range want {
				version := int64(1)
				if want[i].Name == "a/03" {
					version = 2 // written twice
				}
				if got[i].Name != want[i].Name || string(got[i].Value) != string(want[i].Value) || got[i].Version != version {
					t.Fatalf("prefix %q limit %d: item %d is %q=%q v%d, want %q=%q v%d", prefix, limit, i,
						got[i].Name, got[i].Value, got[i].Version, want[i].Name, want[i].Value, version)
				}
				if got[i].CreatedAt.IsZero() || got[i].UpdatedAt.Before(got[i].CreatedAt) {
					t.Fatalf("prefix %q limit %d: %q created %v updated %v", prefix, limit, got[i].Name, got[i].CreatedAt, got[i].UpdatedAt)
				}
			}
		}
	}
	// A name before the prefix starts at the prefix; one past the end is empty.
	if page, err := s.ListPage(ctx, owner, "a/", "a", 100); err != nil || len(page) != 14 {
		t.Errorf("after a name before the prefix: %d secrets, %v", len(page), err)
	}
	if page, err := s.ListPage(ctx, owner, "", "\u00e9t\u00e9", 100); err != nil || len(page) != 0 {
		t.Errorf("after the last name: %q, %v", names(page), err)
	}
}

// testValuePages pages through ListValues and wants the names and
// values of want, in order.
func testValuePages(t *testing.T, s storage.Store, owner, prefix string, limit int, want []storage.Secret) {
	t.Helper()
	got := allPages(t, "ListValues", prefix, limit, len(want), func(after string) ([]storage.Secret, error) {
		return s.ListValues(ctxT(t), owner, prefix, after, limit)
	})
	if len(got) != len(want) {
		t.Fatalf("ListValues prefix %q limit %d: %q, want %q", prefix, limit, names(got), names(want))
	}
	for i := range want {
		if got[i].Name != want[i].Name || string(got[i].Value) != string(want[i].Value) || got[i].Value == nil {
			t.Fatalf("ListValues prefix %q limit %d: item %d is %q=%q, want %q=%q", prefix, limit, i,
				got[i].Name, got[i].Value, want[i].Name, want[i].Value)
		}
	}
}

// allPages pages through list (by lister, for messages) from the start,
// each page after the last name of the one before, until a page short of
// limit or more pages than want secrets could fill; no page may hold more
// than limit.
func allPages(t *testing.T, lister, prefix string, limit, want int, list func(after string) ([]storage.Secret, error)) []storage.Secret {
	t.Helper()
	var got []storage.Secret
	after := ""
	for pages := 0; ; pages++ {
		page, err := list(after)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > limit {
			t.Fatalf("%s prefix %q limit %d: a page of %d", lister, prefix, limit, len(page))
		}
		got = append(got, page...)
		if len(page) < limit || pages > want+1 {
			return got
		}
		after = page[len(page)-1].Name
	}
}
