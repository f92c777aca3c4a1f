package io.stellane.recovery.mmap;

import io.stellane.recovery.RecoveryException;
import io.stellane.recovery.spi.JournalStorage.Kind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * Reads the journal's files at open and rebuilds the storage's index. Segments are read in order of
 * their base sequence. The scan of a segment stops at len == 0, a len that overruns the segment, a
 * CRC mismatch, a seq not above the previous one, or a frame of no known type; it logs a WARN naming
 * the file and offset and ignores the rest of that segment. In the last segment the rest is zeroed,
 * so new frames never sit before stale bytes. A write's frames take effect together, at its last
 * frame; a write without its last frame is dropped (and the next sequence skips one, so that no
 * later frame can complete it). A segment with an invalid file header is moved aside with a
 * warning; one of format 1 is left to {@link FormatOneReader}.
 */
final class FrameScanner {
    private final MmapStorage s;
    private final CRC32C crc = new CRC32C();

    /** A frame read but not yet applied: its write has more frames. */
    private record Read(MmapStorage.Key key, MmapStorage.Loc loc, boolean delete) {
    }

    FrameScanner(MmapStorage storage) {
        this.s = storage;
    }

    /**
     * Opens every segment and rebuilds the index from those of format 2; returns the segments of
     * format 1, oldest first, for {@link FormatOneReader}.
     */
    List<Segment> recover() {
        List<Path> files;
        try (Stream<Path> list = Files.list(s.dir)) {
            files = list.toList();
        } catch (IOException e) {
            throw new RecoveryException("cannot list recovery journal " + s.dir, e);
        }
        List<Segment> found = new ArrayList<>();
        List<Segment> earlier = new ArrayList<>();
        for (Path f : files) {
            String name = f.getFileName().toString();
            if (name.endsWith(Segment.SUFFIX + ".tmp")) {
                try {
                    Files.deleteIfExists(f); // a segment whose creation did not finish
                } catch (IOException e) {
                    throw new RecoveryException("cannot delete " + f, e);
                }
                continue;
            }
            long base = Segment.parseBaseSeq(name);
            if (base < 0) {
                continue;
            }
            Segment seg = Segment.open(f, base);
            if (seg.earlierVersion()) {
                earlier.add(seg);
                continue;
            }
            if (!seg.headerValid()) {
                Path aside = f.resolveSibling(name + ".corrupt");
                MmapStorage.LOG.warn("recovery journal {}: segment {} has an invalid file header; moved aside to {}",
                        s.dir, f, aside);
                seg.release();
                try {
                    Files.move(f, aside, StandardCopyOption.REPLACE_EXISTING);
                } catch (IOException e) {
                    throw new RecoveryException("cannot move aside corrupt segment " + f, e);
                }
                continue;
            }
            found.add(seg);
        }
        found.sort(Comparator.comparingLong(seg -> seg.baseSeq));
        earlier.sort(Comparator.comparingLong(seg -> seg.baseSeq));
        // the first segment of format 2 must not take the name of one of format 1
        long firstBase = earlier.isEmpty() ? 1 : earlier.getLast().baseSeq + 1;
        try {
            scan(found, firstBase);
        } catch (RuntimeException e) {
            found.forEach(Segment::release);
            earlier.forEach(Segment::release);
            s.segments.clear();
            throw e;
        }
        return earlier;
    }

    /**
     * Why the frame of length {@code len} at {@code pos} ends the log (its length overruns the segment,
     * its CRC does not match, its sequence does not follow {@code lastSeq}), or null when it is whole.
     * The frame header is the same in every format.
     */
    static String damage(Segment seg, int pos, int len, long lastSeq, CRC32C crc) {
        if (len < FrameWriter.HEADER || len > seg.capacity - pos) {
            return "frame length " + len + " overruns the segment";
        }
        crc.reset();
        crc.update(seg.buf.slice(pos + 8, len - 8));
        if ((int) crc.getValue() != seg.buf.getInt(pos + 4)) {
            return "CRC32C mismatch";
        }
        long seq = seg.buf.getLong(pos + 16);
        if (seq <= lastSeq || seq < seg.baseSeq) {
            return "sequence " + seq + " does not follow " + lastSeq;
        }
        return null;
    }

    private void scan(List<Segment> found, long firstBase) {
        long lastSeq = 0;
        List<Read> write = new ArrayList<>();
        for (int i = 0; i < found.size(); i++) {
            Segment seg = found.get(i);
            boolean last = i == found.size() - 1;
            int pos = Segment.FILE_HEADER;
            String stop = null;
            while (pos + FrameWriter.HEADER <= seg.capacity) {
                int len = seg.buf.getInt(pos);
                if (len == 0) {
                    break;
                }
                stop = damage(seg, pos, len, lastSeq, crc);
                if (stop != null) {
                    break;
                }
                long seq = seg.buf.getLong(pos + 16);
                int type = seg.buf.get(pos + 8);
                byte flags = seg.buf.get(pos + 9);
                Kind kind = FrameWriter.kindOf(type);
                String undecodable = kind == null ? "unknown frame type " + type : undecodable(seg, pos, len, type);
                if (undecodable != null) {
                    stop = undecodable;
                    break;
                }
                if (!write.isEmpty() && seq != lastSeq + 1) {
                    write.clear(); // the rest of that write never made it
                }
                MmapStorage.Key key = MmapStorage.Key.of(kind, keyOf(seg, pos, len, type));
                write.add(new Read(key, new MmapStorage.Loc(seg, pos, len), FrameWriter.isDelete(type)));
                if ((flags & FrameWriter.FLAG_CONTINUES) == 0) {
                    for (Read r : write) {
                        if (r.delete) {
                            s.live.remove(r.key);
                        } else {
                            s.live.put(r.key, r.loc);
                        }
                    }
                    write.clear();
                }
                lastSeq = seq;
                pos += FrameWriter.align8(len);
            }
            seg.writePos = pos;
            seg.syncedPos = pos;
            if (stop != null) {
                MmapStorage.LOG.warn("recovery journal {}: {} at offset {} in {}; the rest of the segment is ignored{}",
                        s.dir, stop, pos, seg.path, last ? " and zeroed" : "");
            }
            if (last && seg.dirtyFrom(pos)) {
                if (stop == null) {
                    MmapStorage.LOG.warn("recovery journal {}: non-zero bytes after the end of the log at offset {}"
                            + " in {}; zeroed", s.dir, pos, seg.path);
                }
                seg.zeroFrom(pos);
            }
            s.segments.add(seg);
        }
        if (s.segments.isEmpty()) {
            s.segments.add(Segment.create(s.dir, firstBase, (int) s.config.segmentSize()));
        }
        s.active = s.segments.getLast();
        // a write cut short: skipping a sequence number keeps the next frame from completing it
        s.nextSeq = Math.max(lastSeq + (write.isEmpty() ? 1 : 2), s.active.baseSeq);
    }

    /** Null if the payload of the frame at {@code pos} is well formed for its type, else why not. */
    private static String undecodable(Segment seg, int pos, int len, int type) {
        int payload = len - FrameWriter.HEADER;
        if (FrameWriter.isDelete(type)) {
            return null;
        }
        if (payload < FrameWriter.PUT_PREFIX) {
            return "put of " + payload + " bytes is shorter than its prefix";
        }
        int keyLength = seg.buf.getInt(pos + FrameWriter.HEADER + 8);
        if (keyLength < 0 || keyLength > payload - FrameWriter.PUT_PREFIX) {
            return "put with key length " + keyLength + " in " + payload + " bytes";
        }
        return null;
    }

    private static byte[] keyOf(Segment seg, int pos, int len, int type) {
        int at = pos + FrameWriter.HEADER;
        byte[] key;
        if (FrameWriter.isDelete(type)) {
            key = new byte[len - FrameWriter.HEADER];
        } else {
            key = new byte[seg.buf.getInt(at + 8)];
            at += FrameWriter.PUT_PREFIX;
        }
        seg.buf.get(at, key);
        return key;
    }
}
