package decisionlog

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
)

// This file reads segments back: each frame checked, and a frame that
// fails told apart as a torn tail or as damage (see WAL).

// A segment is one segment file read whole.
type segment struct {
	seq      uint64
	path     string
	data     []byte
	v2       bool  // has the segment header (else the first format: 8-byte frame headers, no groups)
	headerOK bool  // the segment header's checksum matches
	size     int64 // the size it was preallocated to (v2)
	dataEnd  int64 // where the next frame goes, once scanned
}

// chain is what the frames read so far say of the next one: the group of
// the last, whether it ended its group, and whether that is known at all.
type chain struct {
	commit uint32
	closed bool
	known  bool
}

// next tells whether a frame of group c may follow.
func (ch chain) next(c uint32) bool {
	if !ch.known {
		return true
	}
	if ch.closed {
		return c == ch.commit+1
	}
	return c == ch.commit || c == ch.commit+1
}

// tornGroups tells whether a frame of group c may belong to a group that
// a crash tore right after the frames read so far.
func (ch chain) tornGroups(c uint32) bool { return ch.known && ch.next(c) }

type scanResult struct {
	recs   []WALRecord
	end    int64 // where the readable data ends (the next frame goes)
	torn   bool  // bytes from end on are a torn write, to clear
	chain  chain
	damage *WALDamage
}

type frameStatus int

const (
	frameOK frameStatus = iota
	frameZero
	frameBadHeader
	frameBadLength
	frameBadPayload
)

// frame is one frame found in a segment.
type frame struct {
	off     int64
	hdr     int64 // header bytes: 16, or 8 in the first format
	n       int64 // payload bytes
	commit  uint32
	closed  bool
	status  frameStatus
	zeroHit bool // the payload has a sector (or the part of one inside it) of zeros
}

func (f frame) end() int64 { return f.off + f.hdr + f.n }

func (s *segment) payload(f frame) []byte { return s.data[f.off+f.hdr : f.end()] }

// frameAt reads the frame header at off (v2) and checks the frame.
func (s *segment) frameAt(off int64) frame {
	d := s.data
	f := frame{off: off, hdr: frameHeader}
	if off+frameHeader > int64(len(d)) {
		f.status = frameBadLength
		return f
	}
	h := d[off : off+frameHeader]
	if allZero(h) {
		f.status = frameZero
		return f
	}
	if crc32.Checksum(h[:12], castagnoli) != binary.LittleEndian.Uint32(h[12:]) {
		f.status = frameBadHeader
		return f
	}
	n := binary.LittleEndian.Uint32(h)
	f.closed = n&lastOfGroup != 0
	f.n = int64(n &^ lastOfGroup)
	f.commit = binary.LittleEndian.Uint32(h[4:])
	if f.n == 0 || f.n%frameAlign != 0 || off+frameHeader+f.n > int64(len(d)) {
		f.status = frameBadLength
		return f
	}
	payload := d[off+frameHeader : f.end()]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(h[8:]) {
		f.status = frameBadPayload
		f.zeroHit = zeroSector(payload, off+frameHeader)
	}
	return f
}

// scan reads the frames of the segment from start, given what the frames
// before it said (ch); last: it is the WAL's last segment, the only one a
// crash can have torn.
func (s *segment) scan(start int64, ch chain, last bool) scanResult {
	if !s.v2 {
		if len(s.data) < 8 || allZero(s.data[:8]) {
			return s.damagedAt(0, "a segment without its header (emptied or cut)", ch, nil)
		}
		return s.scanV1(start, last)
	}
	if !s.headerOK {
		return s.damagedAt(0, "a segment header that fails its checksum", ch, nil)
	}
	short := ""
	if int64(len(s.data)) < s.size {
		short = fmt.Sprintf("the file is %d bytes, made %d: cut short", len(s.data), s.size)
	}
	off := max(start, segHeader)
	if (off-segHeader)%frameAlign != 0 {
		return s.damagedAt(off, "the checkpoint points between frames", ch, nil)
	}
	var recs []WALRecord
	for {
		f := s.frameAt(off)
		if f.status == frameOK && !ch.next(f.commit) {
			return s.damagedAt(off, fmt.Sprintf("frames are missing before it: group %d follows group %d", f.commit, ch.commit), ch, recs)
		}
		if f.status == frameOK {
			rec, err := decodeFrame(s.payload(f))
			if err != nil {
				return s.damagedAt(off, "a record that does not decode: "+err.Error(), ch, recs)
			}
			off = f.end()
			ch = chain{commit: f.commit, closed: f.closed, known: true}
			recs = append(recs, WALRecord{Record: rec, End: WALPosition{Seq: s.seq, Off: off, Commit: f.commit, Closed: f.closed, Chained: true}})
			continue
		}
		// The data ends here: cleanly, torn, or damaged.
		if short != "" { // what was cut off cannot be known
			return s.damagedAt(off, short, ch, recs)
		}
		if off >= int64(len(s.data)) {
			return scanResult{recs: recs, end: off, chain: ch}
		}
		after, _ := s.framesAfter(off + frameHeader)
		switch {
		case f.status == frameZero && len(after) == 0 && allZero(s.data[off:]):
			return scanResult{recs: recs, end: off, chain: ch}
		case last && (f.status == frameZero || f.status == frameBadPayload && f.zeroHit) && onlyTorn(after, ch):
			// Only the group a crash was writing: never acknowledged.
			return scanResult{recs: recs, end: off, torn: true, chain: ch}
		}
		return s.damagedAt(off, f.status.String(), ch, recs)
	}
}

// onlyTorn tells whether the frames found past a bad one can all belong to
// the group being written when a crash came.
func onlyTorn(after []frame, ch chain) bool {
	for _, f := range after {
		if !ch.tornGroups(f.commit) {
			return false
		}
	}
	return true
}

func (st frameStatus) String() string {
	switch st {
	case frameZero:
		return "a frame header of zeros with data after it"
	case frameBadHeader:
		return "a frame header that fails its checksum"
	case frameBadLength:
		return "a frame whose length does not fit the segment"
	case frameBadPayload:
		return "a record that fails its checksum"
	}
	return "a frame out of order"
}

// damagedAt describes damage found at off, with recs the records read
// before it: what can be read after it is recovered, the damaged regions
// measured.
func (s *segment) damagedAt(off int64, reason string, ch chain, recs []WALRecord) scanResult {
	d := &WALDamage{Segment: s.path, Offset: off, Reason: reason}
	var after []frame
	var broken []int64
	if s.v2 {
		after, broken = s.framesAfter(off)
	} else {
		after = s.framesAfterV1(off)
	}
	// The regions: the stretches between whole frames that are not zeros.
	region := func(from, to int64) {
		if to <= from || allZero(s.data[from:to]) {
			return
		}
		hidden := 0
		for _, b := range broken {
			if b >= from && b < to {
				hidden++
			}
		}
		d.Regions++
		d.Bytes += to - from
		d.Unreadable += max(hidden, 1)
	}
	pos := min(off, int64(len(s.data)))
	for _, f := range after {
		region(pos, f.off)
		pos = f.end()
	}
	region(pos, int64(len(s.data)))
	if d.Regions == 0 { // frames missing, or cut short: nothing to measure
		d.Regions, d.Unreadable = 1, 1
	}
	end := off
	var top uint32
	for _, f := range after {
		rec, err := decodeFrame(s.payload(f))
		if err != nil {
			d.Unreadable++
			continue
		}
		end = f.end()
		recs = append(recs, WALRecord{Record: rec, End: WALPosition{Seq: s.seq, Off: end}})
		top = max(top, f.commit)
	}
	d.Recovered = len(recs)
	return scanResult{recs: recs, end: end, chain: chain{commit: max(ch.commit, top)}, damage: d}
}

// framesAfter finds the whole frames at or after from (16-aligned): those
// that read, and the offsets of headers that check whose payload does not.
func (s *segment) framesAfter(from int64) ([]frame, []int64) {
	var ok []frame
	var broken []int64
	p := segHeader + (max(from, segHeader)-segHeader+frameAlign-1)/frameAlign*frameAlign
	for p+frameHeader <= int64(len(s.data)) {
		h := s.data[p : p+frameHeader]
		if binary.LittleEndian.Uint64(h) == 0 && binary.LittleEndian.Uint64(h[8:]) == 0 {
			p += frameAlign
			continue
		}
		f := s.frameAt(p)
		switch f.status {
		case frameOK:
			ok = append(ok, f)
			p = f.end()
			continue
		case frameBadPayload, frameBadLength:
			broken = append(broken, p)
		}
		p += frameAlign
	}
	return ok, broken
}

// scanV1 reads a segment of the first format (8-byte headers: length,
// CRC-32C; no groups). A bad frame is a torn tail only in the last segment
// and when no whole frame follows it anywhere.
func (s *segment) scanV1(start int64, last bool) scanResult {
	d := s.data
	off := start
	var recs []WALRecord
	for {
		f := s.frameV1(off)
		if f.status == frameOK {
			rec, err := decodeFrame(s.payload(f))
			if err != nil {
				return s.damagedAt(off, "a record that does not decode: "+err.Error(), chain{}, recs)
			}
			off = f.end()
			recs = append(recs, WALRecord{Record: rec, End: WALPosition{Seq: s.seq, Off: off}})
			continue
		}
		if off == 0 && f.status != frameZero {
			return s.damagedAt(0, "a segment header that is neither format", chain{}, recs)
		}
		rest := d[min(off, int64(len(d))):]
		if len(s.framesAfterV1(off+1)) == 0 && (allZero(rest) || last) {
			return scanResult{recs: recs, end: off, torn: !allZero(rest)}
		}
		return s.damagedAt(off, f.status.String(), chain{}, recs)
	}
}

func (s *segment) frameV1(off int64) frame {
	d := s.data
	f := frame{off: off, hdr: 8}
	if off+8 > int64(len(d)) {
		f.status = frameZero
		if !allZero(d[min(off, int64(len(d))):]) {
			f.status = frameBadLength
		}
		return f
	}
	n := int64(binary.LittleEndian.Uint32(d[off:]))
	sum := binary.LittleEndian.Uint32(d[off+4:])
	switch {
	case n == 0 && sum == 0:
		f.status = frameZero
	case n == 0 || off+8+n > int64(len(d)):
		f.status = frameBadLength
	case crc32.Checksum(d[off+8:off+8+n], castagnoli) != sum:
		f.status = frameBadPayload
	default:
		f.n = n
	}
	return f
}

// framesAfterV1 finds the whole first-format frames from from on, trying
// every byte.
func (s *segment) framesAfterV1(from int64) []frame {
	var out []frame
	d := s.data
	for p := from; p+8 < int64(len(d)); p++ {
		n := int64(binary.LittleEndian.Uint32(d[p:]))
		if n == 0 || p+8+n > int64(len(d)) || d[p+8] != '{' {
			continue
		}
		if crc32.Checksum(d[p+8:p+8+n], castagnoli) == binary.LittleEndian.Uint32(d[p+4:]) {
			out = append(out, frame{off: p, hdr: 8, n: n})
			p += 8 + n - 1
		}
	}
	return out
}

// clear zeroes the segment from off to its last byte that is not zero: a
// torn write, proven so by scan. Nothing else is ever rewritten.
func (s *segment) clear(off int64) error {
	last := int64(len(s.data))
	for last > off && s.data[last-1] == 0 {
		last--
	}
	if last <= off {
		return nil
	}
	f, err := os.OpenFile(s.path, os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("decision log WAL: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, last-off), off); err != nil {
		return fmt.Errorf("decision log WAL: clearing a torn tail: %w", err)
	}
	if err := datasync(f); err != nil {
		return fmt.Errorf("decision log WAL: %w", err)
	}
	clear(s.data[off:last])
	return nil
}

func decodeFrame(payload []byte) (Record, error) {
	var r Record
	err := json.Unmarshal(payload, &r) // the padding is JSON whitespace
	return r, err
}

// zeroSector tells whether some disk sector inside b (at absolute offset
// at in its file), or the part of one that b holds, is all zeros: what a
// write cut short leaves. JSON text never holds a zero byte.
func zeroSector(b []byte, at int64) bool {
	for i := int64(0); i < int64(len(b)); {
		next := min((at+i)/sectorSize*sectorSize+sectorSize-at, int64(len(b)))
		if allZero(b[i:next]) {
			return true
		}
		i = next
	}
	return false
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	return len(bytes.TrimLeft(b, "\x00")) == 0
}
