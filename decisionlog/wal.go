package decisionlog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
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
// A segment is a sequence of frames, each a 4-byte little-endian payload
// length, the payload's CRC-32C, then the payload (a Record in JSON); a zero
// length ends the data (the rest of a segment is preallocated zeros). A
// frame cut short or whose checksum does not match, at the end of the last
// segment, is a write torn by a crash: it was never acknowledged, and is
// cut off when the WAL is opened.
type WAL struct {
	mu      sync.Mutex // Append and Checkpoint come from two goroutines
	dir     string
	segSize int64
	f       *os.File // the segment appended to
	seq     uint64   // its number
	off     int64    // where the next frame goes
	buf     []byte   // reused frame buffer
}

// WALPosition is a place in the WAL: a segment and an offset in it.
type WALPosition struct {
	Seq uint64 `json:"seq"`
	Off int64  `json:"off"`
}

// DefaultSegmentBytes is the size of a WAL segment (16 MiB).
const DefaultSegmentBytes = 16 << 20

const (
	frameHeader    = 8
	checkpointFile = "checkpoint"
	segmentSuffix  = ".wal"
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
// tail is cut off; a damaged frame anywhere else is an error, naming the
// segment and offset.
func OpenWAL(dir string, segSize int64) (*WAL, []WALRecord, error) {
	if segSize <= 0 {
		segSize = DefaultSegmentBytes
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
	var pending []WALRecord
	var lastEnd int64
	for i, seq := range seqs {
		if seq < cp.Seq {
			continue
		}
		start := int64(0)
		if seq == cp.Seq {
			start = cp.Off
		}
		recs, end, torn, err := w.scan(seq, start)
		if err != nil {
			return nil, nil, err
		}
		if torn != nil && i != len(seqs)-1 {
			return nil, nil, fmt.Errorf("decision log WAL: segment %s damaged at offset %d (%v), and it is not the last", w.path(seq), end, torn)
		}
		pending = append(pending, recs...)
		lastEnd = end
	}
	if len(seqs) == 0 {
		if err := w.create(max(cp.Seq, 1)); err != nil {
			return nil, nil, err
		}
		return w, pending, nil
	}
	last := seqs[len(seqs)-1]
	if last < cp.Seq {
		return nil, nil, fmt.Errorf("decision log WAL: checkpoint at segment %d, past the last segment %d", cp.Seq, last)
	}
	f, err := os.OpenFile(w.path(last), os.O_RDWR, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("decision log WAL: %w", err)
	}
	w.f, w.seq, w.off = f, last, lastEnd
	// Whatever follows the last good frame (a torn write) is zeroed, so
	// that no stale bytes follow the frames appended from here.
	if err := w.zeroFrom(lastEnd); err != nil {
		return nil, nil, err
	}
	return w, pending, nil
}

func (w *WAL) path(seq uint64) string {
	return filepath.Join(w.dir, fmt.Sprintf("%016x%s", seq, segmentSuffix))
}

// segments lists the segment numbers in order.
func (w *WAL) segments() ([]uint64, error) {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return nil, fmt.Errorf("decision log WAL: %w", err)
	}
	var seqs []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), segmentSuffix)
		if !ok {
			continue
		}
		seq, err := strconv.ParseUint(name, 16, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	return seqs, nil
}

// scan reads the frames of a segment from start: the records, where the
// data ends, and why it ended early (a torn or damaged frame), if it did.
func (w *WAL) scan(seq uint64, start int64) ([]WALRecord, int64, error, error) {
	f, err := os.Open(w.path(seq))
	if err != nil {
		return nil, 0, nil, fmt.Errorf("decision log WAL: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("decision log WAL: %w", err)
	}
	var recs []WALRecord
	off := start
	for {
		if off+frameHeader > int64(len(data)) {
			return recs, off, nil, nil
		}
		n := int64(binary.LittleEndian.Uint32(data[off:]))
		sum := binary.LittleEndian.Uint32(data[off+4:])
		if n == 0 {
			if sum != 0 {
				return recs, off, errors.New("a frame of length 0 with a checksum"), nil
			}
			return recs, off, nil, nil
		}
		if off+frameHeader+n > int64(len(data)) {
			return recs, off, errors.New("a frame longer than the segment"), nil
		}
		payload := data[off+frameHeader : off+frameHeader+n]
		if crc32.Checksum(payload, castagnoli) != sum {
			return recs, off, errors.New("a checksum mismatch"), nil
		}
		var r Record
		if err := json.Unmarshal(payload, &r); err != nil {
			return recs, off, fmt.Errorf("a record that does not decode: %w", err), nil
		}
		off += frameHeader + n
		recs = append(recs, WALRecord{Record: r, End: WALPosition{Seq: seq, Off: off}})
	}
}

// create starts segment seq, preallocated.
func (w *WAL) create(seq uint64) error {
	f, err := os.OpenFile(w.path(seq), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("decision log WAL: %w", err)
	}
	if err := preallocate(f, w.segSize); err != nil {
		f.Close()
		return fmt.Errorf("decision log WAL: preallocating %s: %w", w.path(seq), err)
	}
	if err := f.Sync(); err != nil { // the new file's size and blocks
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
	w.f, w.seq, w.off = f, seq, 0
	return nil
}

// zeroFrom clears the current segment from off to its end.
func (w *WAL) zeroFrom(off int64) error {
	info, err := w.f.Stat()
	if err != nil {
		return fmt.Errorf("decision log WAL: %w", err)
	}
	size := max(info.Size(), w.segSize)
	if err := w.f.Truncate(off); err != nil {
		return fmt.Errorf("decision log WAL: %w", err)
	}
	if err := preallocate(w.f, size); err != nil {
		return fmt.Errorf("decision log WAL: %w", err)
	}
	return w.f.Sync()
}

// Append writes payloads (encoded records) as frames and makes them
// durable with one fdatasync (a second one only when a segment fills up).
// It returns the position after the last one.
func (w *WAL) Append(payloads [][]byte) (WALPosition, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = w.buf[:0]
	for _, p := range payloads {
		size := int64(frameHeader + len(p))
		if w.off+int64(len(w.buf))+size > w.segSize && (w.off > 0 || len(w.buf) > 0) {
			if err := w.flush(); err != nil {
				return WALPosition{}, err
			}
			if err := w.create(w.seq + 1); err != nil {
				return WALPosition{}, err
			}
		}
		var h [frameHeader]byte
		binary.LittleEndian.PutUint32(h[:], uint32(len(p)))
		binary.LittleEndian.PutUint32(h[4:], crc32.Checksum(p, castagnoli))
		w.buf = append(append(w.buf, h[:]...), p...)
	}
	if err := w.flush(); err != nil {
		return WALPosition{}, err
	}
	return WALPosition{Seq: w.seq, Off: w.off}, nil
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
		return WALPosition{}, fmt.Errorf("decision log WAL checkpoint: %w", err)
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
