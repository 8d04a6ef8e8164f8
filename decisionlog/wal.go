package decisionlog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// A WAL is the decision log's write-ahead log: records are appended to
// segment files, preallocated, and made durable with one fdatasync per
// group commit; the store (SQLite or PostgreSQL) is indexed from them
// afterwards. A checkpoint says how far the store has been indexed; the
// segments wholly before it are deleted.
//
// A segment starts with a 16-byte header (a magic string, the size it was
// preallocated to, a CRC-32C of both), then holds frames. A frame is a
// 16-byte header (the payload's length, with the top bit set on the last
// frame of a group commit; the group's number; the payload's CRC-32C; the
// header's own CRC-32C) and the payload: a Record in JSON, padded with
// spaces to a multiple of 16 bytes. Frames are 16-aligned, so no header
// crosses a disk sector, and a payload (JSON text) never holds a zero
// byte: a write cut short by a crash leaves zeros where its sectors did
// not reach, which damage does not.
//
// Only the last group written can be torn, since a group is written only
// once the one before it is on disk. Opening the WAL therefore reads a bad
// frame as a torn tail only when it is in the last segment, it is a whole
// header whose payload has a sector of zeros (or a header of zeros), and no
// frame of a later group follows it; anything else that fails its length
// or checksum is damage (see WALDamage), and nothing of it is rewritten.
// See docs/decision-log.md, "What the log survives".
type WAL struct {
	mu      sync.Mutex // Append and Checkpoint come from two goroutines
	dir     string
	segSize int64
	f       *os.File // the segment appended to
	seq     uint64   // its number
	off     int64    // where the next frame goes
	commit  uint32   // the number of the last group appended
	buf     []byte   // reused frame buffer
	damage  []WALDamage
}

// WALPosition is a place in the WAL: a segment and an offset in it, with
// the group of the frame that ends there (Chained: the group is known).
type WALPosition struct {
	Seq     uint64 `json:"seq"`
	Off     int64  `json:"off"`
	Commit  uint32 `json:"commit,omitempty"`
	Closed  bool   `json:"closed,omitempty"` // the frame ending here ended its group
	Chained bool   `json:"chained,omitempty"`
}

// WALOptions configure OpenWAL.
type WALOptions struct {
	// SegmentBytes is the size of a new segment; DefaultSegmentBytes when 0.
	SegmentBytes int64
	// Quarantine, when the WAL is damaged, moves each damaged segment to
	// the quarantine folder (every byte kept) and serves what can be read
	// of it and of the rest, instead of refusing to open.
	Quarantine bool
}

// WALDamage describes a segment that could not be read whole.
type WALDamage struct {
	Segment string `json:"segment"` // its path (in quarantine/ once set aside)
	Offset  int64  `json:"offset"`  // where the first damaged region starts
	Reason  string `json:"reason"`
	// Regions, Bytes: the damaged stretches and their total size.
	Regions int   `json:"regions"`
	Bytes   int64 `json:"bytes"`
	// Unreadable is a lower bound of the records the damage hides: the
	// frames whose start could still be found in it, at least one a region.
	Unreadable int `json:"unreadable_records"`
	// Recovered counts the records read from the segment around the damage.
	Recovered int `json:"recovered_records"`
}

func (d WALDamage) String() string {
	return fmt.Sprintf("segment %s damaged at offset %d (%s): %d region(s), %d bytes, at least %d record(s) unreadable, %d readable",
		d.Segment, d.Offset, d.Reason, d.Regions, d.Bytes, d.Unreadable, d.Recovered)
}

// ErrWALDamaged is wrapped by OpenWAL's error when it refuses a damaged WAL.
var ErrWALDamaged = errors.New("decision log WAL damaged")

// DefaultSegmentBytes is the size of a WAL segment (16 MiB).
const DefaultSegmentBytes = 16 << 20

const (
	segHeader      = 16
	frameHeader    = 16
	frameAlign     = 16
	sectorSize     = 512
	lastOfGroup    = 1 << 31
	maxFrame       = 1<<31 - 1
	segMagic       = "refundd\x02"
	checkpointFile = "checkpoint"
	segmentSuffix  = ".wal"
	quarantineDir  = "quarantine"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// WALRecord is a record read back from the WAL, with the position just
// after it.
type WALRecord struct {
	Record Record
	End    WALPosition
}

// OpenWAL opens (or creates) the WAL in dir and returns the records it
// holds past its checkpoint: committed, perhaps not yet indexed. A torn
// tail is cleared; damage is an error wrapping ErrWALDamaged that names the
// segment, the offset and the records it hides (or, with Quarantine, is
// set aside and reported by Damage).
func OpenWAL(dir string, opts WALOptions) (*WAL, []WALRecord, error) {
	segSize := opts.SegmentBytes
	if segSize <= 0 {
		segSize = DefaultSegmentBytes
	}
	segSize = (segSize + frameAlign - 1) / frameAlign * frameAlign
	if segSize < 2*segHeader || segSize > maxFrame {
		return nil, nil, fmt.Errorf("decision log WAL: a segment of %d bytes: want 32 bytes to 2 GiB", segSize)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("decision log WAL: %w", err)
	}
	w := &WAL{dir: dir, segSize: segSize}
	cp, err := w.readCheckpoint()
	if err != nil {
		return nil, nil, err
	}
	seqs, err := w.segments()
	if err != nil {
		return nil, nil, err
	}
	// A segment whose creation a crash interrupted never got its name.
	if tmps, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix+".tmp")); err == nil {
		for _, t := range tmps {
			_ = os.Remove(t)
		}
	}
	aside, err := w.setAside()
	if err != nil {
		return nil, nil, err
	}
	var pending []WALRecord
	ch := chain{commit: cp.Commit, closed: cp.Closed, known: cp.Chained}
	var tail *segment // the last segment, when it can be appended to
	prev := uint64(0)
	for i, seq := range seqs {
		if seq < cp.Seq {
			continue
		}
		last := i == len(seqs)-1
		if prev != 0 && seq != prev+1 {
			for gap := prev + 1; gap < seq; gap++ {
				if _, ok := aside[gap]; ok {
					continue
				}
				d := WALDamage{Segment: w.path(gap), Reason: "the segment is missing", Regions: 1, Unreadable: 1}
				if err := w.damaged(d, opts.Quarantine, ""); err != nil {
					return nil, nil, err
				}
				if err := w.markMissing(gap); err != nil {
					return nil, nil, err
				}
			}
			ch.known = false
		}
		prev = seq
		seg, err := w.readSegment(seq)
		if err != nil {
			return nil, nil, err
		}
		start := int64(0)
		if seq == cp.Seq {
			start = cp.Off
		}
		res := seg.scan(start, ch, last)
		if res.damage != nil {
			res.damage.Segment = w.path(seq)
			if err := w.damaged(*res.damage, opts.Quarantine, w.path(seq)); err != nil {
				return nil, nil, err
			}
			pending = append(pending, res.recs...)
			ch = res.chain
			continue // set aside: appends go to a new segment
		}
		pending = append(pending, res.recs...)
		ch = res.chain
		if last {
			tail = seg
			if res.torn {
				// Proven torn: the bytes of the unacknowledged group are
				// cleared, so that no stale frame follows the next append.
				if err := seg.clear(res.end); err != nil {
					return nil, nil, err
				}
			}
			tail.dataEnd = res.end
		} else if res.torn {
			return nil, nil, fmt.Errorf("decision log WAL: internal: a torn frame before the last segment %s", w.path(seq))
		}
	}
	w.commit = ch.commit
	if tail != nil && tail.v2 {
		f, err := os.OpenFile(w.path(tail.seq), os.O_RDWR, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("decision log WAL: %w", err)
		}
		w.f, w.seq, w.off = f, tail.seq, tail.dataEnd
		if w.off == 0 {
			w.off = segHeader
		}
		return w, pending, nil
	}
	// No segment, or the last is of the first format or set aside: appends
	// go to a new one.
	next := max(cp.Seq, 1)
	if n := len(seqs); n > 0 {
		next = max(next, seqs[n-1]+1)
	}
	for s := range aside { // a quarantined name is never reused
		next = max(next, s+1)
	}
	for _, d := range w.damage {
		if s, ok := seqOf(filepath.Base(d.Segment)); ok {
			next = max(next, s+1)
		}
	}
	if err := w.create(next); err != nil {
		return nil, nil, err
	}
	return w, pending, nil
}

// setAside reads the quarantine folder: the segments set aside at earlier
// starts (and those found missing), by number, each reported again as
// damage until an operator removes it.
func (w *WAL) setAside() (map[uint64]string, error) {
	entries, err := os.ReadDir(filepath.Join(w.dir, quarantineDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("decision log WAL: %w", err)
	}
	out := map[uint64]string{}
	for _, e := range entries {
		path := filepath.Join(w.dir, quarantineDir, e.Name())
		if base, ok := strings.CutSuffix(e.Name(), ".missing"); ok {
			if seq, ok := seqOf(base + segmentSuffix); ok {
				out[seq] = path
				w.damage = append(w.damage, WALDamage{Segment: w.path(seq), Reason: "the segment was missing at an earlier start", Regions: 1, Unreadable: 1})
			}
			continue
		}
		seq, ok := seqOf(e.Name())
		if !ok {
			continue
		}
		out[seq] = path
		seg, err := w.readSegmentAt(seq, path)
		if err != nil {
			return nil, err
		}
		res := seg.scan(0, chain{}, false)
		d := WALDamage{Segment: path, Reason: "set aside at an earlier start"}
		if res.damage != nil {
			d = *res.damage
			d.Segment, d.Reason = path, "set aside at an earlier start: "+d.Reason
		}
		w.damage = append(w.damage, d)
	}
	return out, nil
}

// markMissing records in the quarantine folder that segment seq was found
// missing and the rest served, so that later starts take the gap as known.
func (w *WAL) markMissing(seq uint64) error {
	qdir := filepath.Join(w.dir, quarantineDir)
	if err := os.MkdirAll(qdir, 0o700); err != nil {
		return fmt.Errorf("decision log WAL: %w", err)
	}
	name := strings.TrimSuffix(filepath.Base(w.path(seq)), segmentSuffix) + ".missing"
	if err := os.WriteFile(filepath.Join(qdir, name), nil, 0o600); err != nil {
		return fmt.Errorf("decision log WAL: %w", err)
	}
	return syncDir(qdir)
}

// Damage lists the damaged segments that OpenWAL set aside (Quarantine),
// now and at earlier starts, while they are in the quarantine folder.
func (w *WAL) Damage() []WALDamage { return slices.Clone(w.damage) }

// damaged refuses a damaged WAL or, told to, moves the segment at path (if
// any) to the quarantine folder and records the damage.
func (w *WAL) damaged(d WALDamage, quarantine bool, path string) error {
	if !quarantine {
		return fmt.Errorf("%w: %s; every byte is kept: restore the segment from a backup, or start with --log-damaged quarantine to set it aside in %s and serve the rest",
			ErrWALDamaged, d, filepath.Join(w.dir, quarantineDir))
	}
	if path != "" {
		qdir := filepath.Join(w.dir, quarantineDir)
		if err := os.MkdirAll(qdir, 0o700); err != nil {
			return fmt.Errorf("decision log WAL: %w", err)
		}
		to := filepath.Join(qdir, filepath.Base(path))
		if _, err := os.Stat(to); err == nil {
			to += "." + strconv.FormatInt(int64(len(w.damage)), 10) + ".damaged"
		}
		if err := os.Rename(path, to); err != nil {
			return fmt.Errorf("decision log WAL: quarantining %s: %w", path, err)
		}
		if err := syncDir(w.dir); err != nil {
			return err
		}
		d.Segment = to
	}
	w.damage = append(w.damage, d)
	return nil
}

func (w *WAL) path(seq uint64) string {
	return filepath.Join(w.dir, fmt.Sprintf("%016x%s", seq, segmentSuffix))
}

func seqOf(name string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(base, 16, 64)
	return seq, err == nil
}

// segments lists the segment numbers in order.
func (w *WAL) segments() ([]uint64, error) {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return nil, fmt.Errorf("decision log WAL: %w", err)
	}
	var seqs []uint64
	for _, e := range entries {
		if seq, ok := seqOf(e.Name()); ok && e.Type().IsRegular() {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	return seqs, nil
}

func (w *WAL) readSegment(seq uint64) (*segment, error) { return w.readSegmentAt(seq, w.path(seq)) }

func (w *WAL) readSegmentAt(seq uint64, path string) (*segment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("decision log WAL: %w", err)
	}
	s := &segment{seq: seq, path: path, data: data}
	if len(data) >= segHeader && string(data[:8]) == segMagic {
		s.v2 = true
		s.size = int64(binary.LittleEndian.Uint32(data[8:]))
		s.headerOK = crc32.Checksum(data[:12], castagnoli) == binary.LittleEndian.Uint32(data[12:])
	}
	return s, nil
}

// create starts segment seq, preallocated, with its header synced before
// it gets its name: a segment by that name always has its header, so one
// without is damage, never an interrupted creation.
func (w *WAL) create(seq uint64) error {
	tmp := w.path(seq) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("decision log WAL: %w", err)
	}
	if err := preallocate(f, w.segSize); err != nil {
		f.Close()
		return fmt.Errorf("decision log WAL: preallocating %s: %w", w.path(seq), err)
	}
	var h [segHeader]byte
	copy(h[:], segMagic)
	binary.LittleEndian.PutUint32(h[8:], uint32(w.segSize))
	binary.LittleEndian.PutUint32(h[12:], crc32.Checksum(h[:12], castagnoli))
	if _, err := f.WriteAt(h[:], 0); err != nil {
		f.Close()
		return fmt.Errorf("decision log WAL: %w", err)
	}
	if err := f.Sync(); err != nil { // the new file's size, blocks and header
		f.Close()
		return fmt.Errorf("decision log WAL: %w", err)
	}
	if _, err := os.Stat(w.path(seq)); err == nil {
		f.Close()
		return fmt.Errorf("decision log WAL: segment %s exists already", w.path(seq))
	}
	if err := os.Rename(tmp, w.path(seq)); err != nil {
		f.Close()
		return fmt.Errorf("decision log WAL: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		f.Close()
		return err
	}
	if w.f != nil {
		w.f.Close()
	}
	w.f, w.seq, w.off = f, seq, segHeader
	return nil
}

// Append writes payloads (encoded records) as frames of one group and makes
// them durable with one fdatasync (a second one only when a segment fills
// up). It returns the position after the last one.
func (w *WAL) Append(payloads [][]byte) (WALPosition, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return WALPosition{}, errors.New("decision log WAL: closed")
	}
	commit := w.commit + 1
	w.buf = w.buf[:0]
	for i, p := range payloads {
		padded := (len(p) + frameAlign - 1) / frameAlign * frameAlign
		if padded == 0 {
			padded = frameAlign
		}
		size := int64(frameHeader + padded)
		if size > w.segSize-segHeader {
			return WALPosition{}, fmt.Errorf("decision log WAL: a record of %d bytes does not fit a segment of %d", len(p), w.segSize)
		}
		if w.off+int64(len(w.buf))+size > w.segSize {
			if err := w.flush(); err != nil {
				return WALPosition{}, err
			}
			if err := w.create(w.seq + 1); err != nil {
				return WALPosition{}, err
			}
		}
		start := len(w.buf)
		w.buf = append(w.buf, make([]byte, frameHeader)...)
		w.buf = append(w.buf, p...)
		for len(w.buf)-start-frameHeader < padded {
			w.buf = append(w.buf, ' ')
		}
		h := w.buf[start : start+frameHeader]
		n := uint32(padded)
		if i == len(payloads)-1 {
			n |= lastOfGroup
		}
		binary.LittleEndian.PutUint32(h, n)
		binary.LittleEndian.PutUint32(h[4:], commit)
		binary.LittleEndian.PutUint32(h[8:], crc32.Checksum(w.buf[start+frameHeader:], castagnoli))
		binary.LittleEndian.PutUint32(h[12:], crc32.Checksum(h[:12], castagnoli))
	}
	if err := w.flush(); err != nil {
		return WALPosition{}, err
	}
	w.commit = commit
	return WALPosition{Seq: w.seq, Off: w.off, Commit: commit, Closed: true, Chained: true}, nil
}

// flush writes the buffered frames at the current offset and syncs them.
func (w *WAL) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.f.WriteAt(w.buf, w.off); err != nil {
		return fmt.Errorf("decision log WAL: %w", err)
	}
	if err := datasync(w.f); err != nil {
		return fmt.Errorf("decision log WAL: %w", err)
	}
	w.off += int64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}

// Checkpoint records that everything before pos is indexed in the store,
// and deletes the segments wholly before it. The checkpoint itself need
// not be durable at once: losing it only indexes some records again, which
// the store ignores.
func (w *WAL) Checkpoint(pos WALPosition) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, _ := json.Marshal(pos)
	tmp := filepath.Join(w.dir, checkpointFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("decision log WAL: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(w.dir, checkpointFile)); err != nil {
		return fmt.Errorf("decision log WAL: %w", err)
	}
	seqs, err := w.segments()
	if err != nil {
		return err
	}
	for _, seq := range seqs {
		if seq < pos.Seq && seq != w.seq {
			if err := os.Remove(w.path(seq)); err != nil {
				return fmt.Errorf("decision log WAL: %w", err)
			}
		}
	}
	return nil
}

func (w *WAL) readCheckpoint() (WALPosition, error) {
	raw, err := os.ReadFile(filepath.Join(w.dir, checkpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return WALPosition{}, nil
	}
	if err != nil {
		return WALPosition{}, fmt.Errorf("decision log WAL: %w", err)
	}
	var pos WALPosition
	if err := json.Unmarshal(raw, &pos); err != nil {
		return WALPosition{}, fmt.Errorf("decision log WAL checkpoint %s: %w", filepath.Join(w.dir, checkpointFile), err)
	}
	return pos, nil
}

// Probe writes and syncs a small file in the WAL's directory and removes
// it: whether the WAL's disk takes writes now.
func (w *WAL) Probe() error {
	path := filepath.Join(w.dir, ".probe")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("decision log WAL: %w", err)
	}
	_, err = f.Write([]byte("probe"))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(path); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("decision log WAL: %w", err)
	}
	return nil
}

// Close closes the current segment.
func (w *WAL) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("decision log WAL: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("decision log WAL: %w", err)
	}
	return nil
}
