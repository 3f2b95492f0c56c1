package ipfs

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

// The layout IPFS importers use by default for CIDv0 files (Kubo's `ipfs
// add`, Pinata): the file cut into chunks of chunkSize bytes, each a dag-pb
// leaf holding a UnixFS File node; more than one chunk are joined by a
// balanced tree of File nodes with at most maxLinks children each.
const (
	chunkSize = 256 << 10
	maxLinks  = 174
)

// FileDigest returns the sha256 digest of the root dag-pb node an importer
// builds for data with the default layout above: the digest a job account
// stores, whose CID is CID(FileDigest(data)).
//
// The encoding follows the dag-pb and UnixFS specs (Links before Data in a
// node; a link's Hash, empty Name and Tsize; a File node's Type, Data,
// filesize and unpacked blocksizes); the tests check it byte for byte
// against the importer of github.com/ipfs/boxo.
func FileDigest(data []byte) [32]byte {
	h := sha256.New()
	if len(data) <= chunkSize {
		d, _ := leaf(h, data)
		return d
	}
	level := make([]child, 0, (len(data)+chunkSize-1)/chunkSize)
	for off := 0; off < len(data); off += chunkSize {
		c := data[off:min(off+chunkSize, len(data))]
		d, n := leaf(h, c)
		level = append(level, child{digest: d, tsize: uint64(n), filesize: uint64(len(c))})
	}
	var buf []byte
	for len(level) > 1 {
		next := level[:0:0]
		for i := 0; i < len(level); i += maxLinks {
			var c child
			buf, c = parent(h, buf[:0], level[i:min(i+maxLinks, len(level))])
			next = append(next, c)
		}
		level = next
	}
	return level[0].digest
}

// child is what a parent node records of a node below it.
type child struct {
	digest   [32]byte
	tsize    uint64 // encoded size of the node and everything below it
	filesize uint64 // bytes of the file below it
}

// Protobuf tags of dag-pb and UnixFS: field number << 3, plus 2 for a
// length-delimited field (a varint field adds 0).
const (
	tagNodeData   = 1<<3 + 2 // PBNode.Data
	tagNodeLinks  = 2<<3 + 2 // PBNode.Links
	tagLinkHash   = 1<<3 + 2 // PBLink.Hash
	tagLinkName   = 2<<3 + 2 // PBLink.Name
	tagLinkTsize  = 3 << 3   // PBLink.Tsize
	tagFSType     = 1 << 3   // Data.Type
	tagFSData     = 2<<3 + 2 // Data.Data
	tagFSFilesize = 3 << 3   // Data.filesize
	tagFSBlock    = 4 << 3   // Data.blocksizes, one per child
	typeFile      = 2        // Data.DataType File
)

// leaf hashes the dag-pb node that holds one chunk, without copying the
// chunk, and returns its digest and encoded length. The empty file has no
// Data field, as importers write it.
func leaf(h hash.Hash, chunk []byte) ([32]byte, int) {
	n := uint64(len(chunk))
	inner := 2 + 1 + varintLen(n) // Type, filesize
	if n > 0 {
		inner += 1 + varintLen(n) + len(chunk)
	}
	var head, tail [32]byte
	hd := append(head[:0], tagNodeData)
	hd = binary.AppendUvarint(hd, uint64(inner))
	hd = append(hd, tagFSType, typeFile)
	if n > 0 {
		hd = append(hd, tagFSData)
		hd = binary.AppendUvarint(hd, n)
	}
	tl := append(tail[:0], tagFSFilesize)
	tl = binary.AppendUvarint(tl, n)

	h.Reset()
	h.Write(hd)
	h.Write(chunk)
	h.Write(tl)
	var d [32]byte
	h.Sum(d[:0])
	return d, len(hd) + len(chunk) + len(tl)
}

// parent encodes into buf the File node over children, hashes it, and
// returns buf and what the node's own parent records of it.
func parent(h hash.Hash, buf []byte, children []child) ([]byte, child) {
	var c child
	for _, ch := range children {
		link := 2 + 34 + 2 + 1 + varintLen(ch.tsize) // Hash (a 34-byte multihash), empty Name, Tsize
		buf = append(buf, tagNodeLinks)
		buf = binary.AppendUvarint(buf, uint64(link))
		buf = append(buf, tagLinkHash, 34, 0x12, 0x20)
		buf = append(buf, ch.digest[:]...)
		buf = append(buf, tagLinkName, 0, tagLinkTsize)
		buf = binary.AppendUvarint(buf, ch.tsize)
		c.tsize += ch.tsize
		c.filesize += ch.filesize
	}
	inner := 2 + 1 + varintLen(c.filesize)
	for _, ch := range children {
		inner += 1 + varintLen(ch.filesize)
	}
	buf = append(buf, tagNodeData)
	buf = binary.AppendUvarint(buf, uint64(inner))
	buf = append(buf, tagFSType, typeFile, tagFSFilesize)
	buf = binary.AppendUvarint(buf, c.filesize)
	for _, ch := range children {
		buf = append(buf, tagFSBlock)
		buf = binary.AppendUvarint(buf, ch.filesize)
	}
	h.Reset()
	h.Write(buf)
	h.Sum(c.digest[:0])
	c.tsize += uint64(len(buf))
	return buf, c
}

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
