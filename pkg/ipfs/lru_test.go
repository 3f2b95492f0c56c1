package ipfs

import "testing"

func TestLRU(t *testing.T) {
	l := newLRU(2)
	l.add("a", Document{"a": 1.0})
	l.add("b", Document{"b": 1.0})
	if _, ok := l.get("a"); !ok {
		t.Fatal("a missing")
	}
	l.add("c", Document{"c": 1.0}) // evicts b, the least recently used
	if _, ok := l.get("b"); ok {
		t.Error("b survived eviction")
	}
	for _, k := range []string{"a", "c"} {
		if _, ok := l.get(k); !ok {
			t.Errorf("%s missing", k)
		}
	}
	l.add("c", Document{"c": 2.0})
	if d, _ := l.get("c"); d["c"] != 2.0 {
		t.Errorf("c not replaced: %v", d)
	}
	if n := l.len(); n != 2 {
		t.Errorf("len = %d, want 2", n)
	}
}
