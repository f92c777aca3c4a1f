package io.stellane.recovery.mmap;

import io.stellane.recovery.spi.JournalStorage.Kind;
import io.stellane.recovery.spi.JournalStorage.Record;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * Writes frames into a segment's mapping. Not thread-safe: used under the storage's lock.
 *
 * <pre>
 * frame = u32 len | u32 crc32c | u8 type | u8 flags | u16 0 | u32 0 | u64 seq | payload, 8-byte aligned
 *   len = 24 + payload bytes; crc32c (java.util.zip.CRC32C) covers bytes 8..len; seq strictly increases
 *   across the whole journal; the next frame starts at align8(offset + len); len == 0 ends the log
 * type  = 0x10 | kind (put) or 0x20 | kind (delete), kind the ordinal of JournalStorage.Kind
 * flags = 4 CONTINUES: the write this frame belongs to goes on in the next frame (a write is all or nothing)
 * put payload    = u64 record seq | u32 key length | key | value
 * delete payload = key
 * </pre>
 * The payload and the rest of the header are stored first, len last with a release store: a reader
 * of the file that sees a length sees the whole frame.
 */
final class FrameWriter {
    static final int HEADER = 24;
    static final int PUT = 0x10;
    static final int DELETE = 0x20;
    static final byte FLAG_CONTINUES = 4;
    /** Bytes of a put's payload besides its key and value. */
    static final int PUT_PREFIX = 12;
    private static final VarHandle INT_VIEW = MethodHandles.byteBufferViewVarHandle(int[].class, ByteOrder.BIG_ENDIAN);

    private final CRC32C crc = new CRC32C();
    private final byte[] header = new byte[HEADER];
    private final byte[] prefix = new byte[PUT_PREFIX];

    static int align8(int n) {
        return (n + 7) & ~7;
    }

    static int type(Record r) {
        return (r.isDelete() ? DELETE : PUT) | r.kind().ordinal();
    }

    static boolean isPut(int type) {
        return (type & 0xf0) == PUT;
    }

    static boolean isDelete(int type) {
        return (type & 0xf0) == DELETE;
    }

    /** The kind of a frame type, or null if it is none. */
    static Kind kindOf(int type) {
        int ordinal = type & 0x0f;
        return (isPut(type) || isDelete(type)) && ordinal < Kind.values().length ? Kind.values()[ordinal] : null;
    }

    /** Bytes the frame of {@code r} occupies, aligned. */
    static int alignedSize(Record r) {
        return align8(HEADER + payloadLength(r));
    }

    static int payloadLength(Record r) {
        return r.isDelete() ? r.key().length : PUT_PREFIX + r.key().length + r.value().length;
    }

    /** Writes {@code r} as frame {@code seq} at the segment's write position, which it advances. */
    void write(Segment s, long seq, Record r, int flags) {
        byte[] key = r.key();
        byte[] value = r.isDelete() ? null : r.value();
        int off = s.writePos;
        int payload = payloadLength(r);
        header(type(r), flags, seq);
        crc.reset();
        crc.update(header, 8, HEADER - 8);
        int at = off + HEADER;
        if (value != null) {
            long recordSeq = r.seq();
            for (int i = 0; i < 8; i++) {
                prefix[i] = (byte) (recordSeq >>> (56 - 8 * i));
            }
            for (int i = 0; i < 4; i++) {
                prefix[8 + i] = (byte) (key.length >>> (24 - 8 * i));
            }
            crc.update(prefix, 0, PUT_PREFIX);
            s.buf.put(at, prefix, 0, PUT_PREFIX);
            at += PUT_PREFIX;
        }
        crc.update(key, 0, key.length);
        s.buf.put(at, key, 0, key.length);
        at += key.length;
        if (value != null) {
            crc.update(value, 0, value.length);
            s.buf.put(at, value, 0, value.length);
        }
        publish(s, off, HEADER + payload);
    }

    /** Writes a copy of a frame's payload (compaction carrying a record forward) as frame {@code seq}. */
    void copy(Segment s, long seq, int type, byte[] payload) {
        int off = s.writePos;
        header(type, 0, seq);
        crc.reset();
        crc.update(header, 8, HEADER - 8);
        crc.update(payload, 0, payload.length);
        s.buf.put(off + HEADER, payload, 0, payload.length);
        publish(s, off, HEADER + payload.length);
    }

    private void header(int type, int flags, long seq) {
        header[8] = (byte) type;
        header[9] = (byte) flags;
        for (int i = 10; i < 16; i++) {
            header[i] = 0;
        }
        for (int i = 0; i < 8; i++) {
            header[16 + i] = (byte) (seq >>> (56 - 8 * i));
        }
    }

    private void publish(Segment s, int off, int len) {
        s.buf.put(off + 8, header, 8, HEADER - 8);
        s.buf.putInt(off + 4, (int) crc.getValue());
        INT_VIEW.setRelease(s.buf, off, len); // publishes the frame
        s.writePos = off + align8(len);
    }
}
