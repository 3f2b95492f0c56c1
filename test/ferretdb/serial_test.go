package main

import (
	"encoding/binary"
	"testing"
)

// elem is one BSON element: type, key, value bytes.
func elem(t byte, key string, value []byte) []byte {
	return append(append([]byte{t}, append([]byte(key), 0)...), value...)
}

func doc(elems ...[]byte) []byte {
	var body []byte
	for _, e := range elems {
		body = append(body, e...)
	}
	out := binary.LittleEndian.AppendUint32(nil, uint32(4+len(body)+1))
	return append(append(out, body...), 0)
}

func str(s string) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, uint32(len(s)+1)), append([]byte(s), 0)...)
}

// message is an OP_MSG with body and a document sequence after it.
func message(body []byte) []byte {
	seq := append(binary.LittleEndian.AppendUint32(nil, uint32(4+len("documents")+1)), append([]byte("documents"), 0)...)
	payload := append([]byte{0}, body...)
	payload = append(payload, 1)
	payload = append(payload, seq...)
	head := make([]byte, 20)
	binary.LittleEndian.PutUint32(head[0:], uint32(20+len(payload)))
	binary.LittleEndian.PutUint32(head[12:], opMsg)
	return append(head, payload...)
}

// TestIsWrite: writes are told from reads, and each write is held under
// the lock of the database it names, whatever comes before $db.
func TestIsWrite(t *testing.T) {
	lsid := doc(elem(0x05, "id", append(binary.LittleEndian.AppendUint32(nil, 16), append([]byte{4}, make([]byte, 16)...)...)))
	for _, c := range []struct {
		name  string
		body  []byte
		db    string
		write bool
	}{
		{"insert", doc(elem(0x02, "insert", str("secrets")), elem(0x08, "ordered", []byte{1}), elem(0x03, "lsid", lsid), elem(0x02, "$db", str("a"))), "a", true},
		{"update after every kind of value", doc(elem(0x02, "update", str("secrets")), elem(0x10, "n", []byte{1, 0, 0, 0}),
			elem(0x12, "t", make([]byte, 8)), elem(0x07, "oid", make([]byte, 12)), elem(0x0A, "nil", nil),
			elem(0x04, "arr", doc(elem(0x02, "0", str("x")))), elem(0x02, "$db", str("b_1"))), "b_1", true},
		{"findAndModify, any case", doc(elem(0x02, "findAndModify", str("c")), elem(0x02, "$db", str("c"))), "c", true},
		{"a read", doc(elem(0x02, "find", str("secrets")), elem(0x02, "$db", str("a"))), "", false},
		{"a write without $db", doc(elem(0x02, "delete", str("secrets"))), "", true},
		{"a write with a value it cannot size", doc(elem(0x02, "delete", str("s")), elem(0x42, "odd", []byte{1}), elem(0x02, "$db", str("a"))), "", true},
	} {
		db, write := isWrite(message(c.body))
		if db != c.db || write != c.write {
			t.Errorf("%s: isWrite = %q, %v; want %q, %v", c.name, db, write, c.db, c.write)
		}
	}
	if _, write := isWrite([]byte("short")); write {
		t.Error("a short message is a write")
	}
}
