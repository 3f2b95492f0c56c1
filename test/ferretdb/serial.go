package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
)

// FerretDB v1 runs every update (findAndModify, upserts, $inc) as a read
// followed by a separate write, so two clients updating one document at
// once lose a write. MongoDB makes each single-document write atomic. The
// front below gives FerretDB that guarantee the bluntest way: it passes the
// wire protocol through unchanged, but lets one write command (insert,
// update, delete, findAndModify) run at a time in each database ($db),
// across all connections. Reads are not held up. What the tests then prove
// about the store's races holds for any server that keeps single-document
// writes atomic. (One lock per database, not one for all: a write names
// one database, and FerretDB on SQLite keeps each in a file of its own, so
// a slow write in one test's database holds up no other test.)

const (
	opMsg          = 2013
	moreToCome     = 1 << 1
	maxMessageSize = 48 << 20
)

var writeCommands = map[string]bool{"insert": true, "update": true, "delete": true, "findandmodify": true}

// locks holds one write lock per database.
type locks struct {
	mu sync.Mutex
	db map[string]*sync.Mutex
}

func (l *locks) of(db string) *sync.Mutex {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.db[db]
	if m == nil {
		m = new(sync.Mutex)
		l.db[db] = m
	}
	return m
}

// front accepts on l and relays each connection to upstream.
func front(l net.Listener, upstream string) error {
	writes := &locks{db: map[string]*sync.Mutex{}}
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go func() {
			defer c.Close()
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				return
			}
			defer u.Close()
			relay(c, u, writes)
		}()
	}
}

// relay passes requests from c to u and replies back, one at a time, as
// MongoDB drivers use a connection. A write holds its database's writes
// until its reply has been read.
func relay(c, u net.Conn, writes *locks) {
	for {
		req, err := readMessage(c)
		if err != nil {
			return
		}
		var lock *sync.Mutex
		if db, write := isWrite(req); write {
			lock = writes.of(db)
			lock.Lock()
		}
		err = exchange(c, u, req)
		if lock != nil {
			lock.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// exchange sends req upstream and relays its replies (more than one while
// a reply says moreToCome).
func exchange(c, u net.Conn, req []byte) error {
	if _, err := u.Write(req); err != nil {
		return err
	}
	if flags(req)&moreToCome != 0 {
		return nil // the client expects no reply
	}
	for {
		rep, err := readMessage(u)
		if err != nil {
			return err
		}
		if _, err := c.Write(rep); err != nil {
			return err
		}
		if flags(rep)&moreToCome == 0 {
			return nil
		}
	}
}

func readMessage(r io.Reader) ([]byte, error) {
	var head [16]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	n := int(binary.LittleEndian.Uint32(head[:4]))
	if n < 16 || n > maxMessageSize {
		return nil, fmt.Errorf("message length %d", n)
	}
	msg := make([]byte, n)
	copy(msg, head[:])
	_, err := io.ReadFull(r, msg[16:])
	return msg, err
}

// flags returns the OP_MSG flag bits (0 for other opcodes).
func flags(msg []byte) uint32 {
	if len(msg) < 20 || binary.LittleEndian.Uint32(msg[12:16]) != opMsg {
		return 0
	}
	return binary.LittleEndian.Uint32(msg[16:20])
}

// isWrite reports whether msg is an OP_MSG whose command (the first key
// of its body section) is a write, and the database it names ($db).
func isWrite(msg []byte) (db string, write bool) {
	if len(msg) < 21 || binary.LittleEndian.Uint32(msg[12:16]) != opMsg {
		return "", false
	}
	for p := 20; p < len(msg); {
		kind := msg[p]
		p++
		if p+4 > len(msg) {
			return "", false
		}
		size := int(binary.LittleEndian.Uint32(msg[p : p+4]))
		if size < 5 || p+size > len(msg) {
			return "", false
		}
		if kind == 0 {
			return bodyWrite(msg[p : p+size])
		}
		p += size
	}
	return "", false
}

// bodyWrite reads the body document of an OP_MSG: whether its first key is
// a write command, and its $db. A body it cannot read is a write of the
// database "" (so it is held like one, never let through unlocked).
func bodyWrite(doc []byte) (db string, write bool) {
	first := true
	for p := 4; p < len(doc)-1; {
		t := doc[p]
		p++
		end := bytes.IndexByte(doc[p:], 0)
		if end < 0 {
			return "", write
		}
		key := string(doc[p : p+end])
		p += end + 1
		if first {
			write = writeCommands[strings.ToLower(key)]
			first = false
			if !write {
				return "", false
			}
		}
		n := valueSize(t, doc[p:])
		if n < 0 || p+n > len(doc) {
			return "", write
		}
		if key == "$db" && t == 0x02 && n > 5 {
			return string(doc[p+4 : p+n-1]), write
		}
		p += n
	}
	return "", write
}

// valueSize is the length of a BSON value of type t at the start of b, or
// -1 for a type it does not know.
func valueSize(t byte, b []byte) int {
	i32 := func() int {
		if len(b) < 4 {
			return -1
		}
		return int(int32(binary.LittleEndian.Uint32(b)))
	}
	switch t {
	case 0x01, 0x09, 0x11, 0x12: // double, datetime, timestamp, int64
		return 8
	case 0x02, 0x0D, 0x0E: // string, JavaScript, symbol
		if n := i32(); n >= 1 {
			return 4 + n
		}
		return -1
	case 0x03, 0x04, 0x0F: // document, array, code with scope
		return i32()
	case 0x05: // binary
		if n := i32(); n >= 0 {
			return 5 + n
		}
		return -1
	case 0x06, 0x0A, 0x7F, 0xFF: // undefined, null, max key, min key
		return 0
	case 0x07: // ObjectId
		return 12
	case 0x08: // bool
		return 1
	case 0x10: // int32
		return 4
	case 0x13: // decimal128
		return 16
	case 0x0B: // regex: two cstrings
		a := bytes.IndexByte(b, 0)
		if a < 0 {
			return -1
		}
		c := bytes.IndexByte(b[a+1:], 0)
		if c < 0 {
			return -1
		}
		return a + 1 + c + 1
	case 0x0C: // DBPointer: string, then 12 bytes
		if n := i32(); n >= 1 {
			return 4 + n + 12
		}
		return -1
	}
	return -1
}
