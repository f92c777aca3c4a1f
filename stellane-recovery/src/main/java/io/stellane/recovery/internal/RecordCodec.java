package io.stellane.recovery.internal;

import io.stellane.recovery.HttpHeader;
import io.stellane.recovery.JournaledRequest;
import io.stellane.recovery.StoredResponse;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The binary encoding that stores share for requests, responses and string maps: big-endian,
 * length-prefixed, no schema. For store implementors; not thread-safe per instance, stateless
 * statics. Decoding corrupt input throws {@link IllegalArgumentException}, never returns garbage
 * silently (callers CRC-check first; this is the second line).
 */
public final class RecordCodec {
    private RecordCodec() {
    }

    /** A growable big-endian output buffer. */
    public static final class Writer {
        private static final VarHandle INT = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.BIG_ENDIAN);
        private static final VarHandle LONG = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.BIG_ENDIAN);

        private byte[] buf;
        private int pos;
        private static final char[] NO_CHARS = {};

        /**
         * A string's chars, copied out in one go before they are narrowed into {@link #buf}; made
         * by the first string, so a writer of numbers and bytes allocates nothing more.
         */
        private char[] chars = NO_CHARS;

        public Writer(int initialCapacity) {
            buf = new byte[Math.max(16, initialCapacity)];
        }

        private void ensure(int n) {
            if (pos + n > buf.length) {
                buf = Arrays.copyOf(buf, Math.max(buf.length * 2, pos + n));
            }
        }

        public Writer u8(int v) {
            ensure(1);
            buf[pos++] = (byte) v;
            return this;
        }

        public Writer i32(int v) {
            ensure(4);
            INT.set(buf, pos, v);
            pos += 4;
            return this;
        }

        public Writer i64(long v) {
            ensure(8);
            LONG.set(buf, pos, v);
            pos += 8;
            return this;
        }

        public Writer bytes(byte[] b) {
            i32(b.length);
            ensure(b.length);
            System.arraycopy(b, 0, buf, pos, b.length);
            pos += b.length;
            return this;
        }

        /** A string, or {@code null} (length -1). */
        public Writer str(String s) {
            if (s == null) {
                return i32(-1);
            }
            // ASCII (ids, methods, most headers) is copied straight in, no byte[] per string: the
            // chars in bulk, then one branch-free pass that narrows them and ORs them together, which
            // the JIT vectorises (a charAt loop with an early exit costs twice as much per string)
            int n = s.length();
            char[] cs = chars.length >= n ? chars : (chars = new char[Math.max(n, Math.max(64, 2 * chars.length))]);
            s.getChars(0, n, cs, 0);
            ensure(4 + n);
            byte[] b = buf;
            int at = pos + 4;
            int seen = 0;
            for (int i = 0; i < n; i++) {
                char c = cs[i];
                seen |= c;
                b[at + i] = (byte) c;
            }
            if (seen >= 0x80) {
                return bytes(s.getBytes(StandardCharsets.UTF_8));
            }
            i32(n);
            pos += n;
            return this;
        }

        public Writer headers(List<HttpHeader> headers) {
            i32(headers.size());
            for (HttpHeader h : headers) {
                str(h.name()).str(h.value());
            }
            return this;
        }

        public Writer map(Map<String, String> map) {
            i32(map.size());
            map.forEach((k, v) -> str(k).str(v));
            return this;
        }

        public Writer request(JournaledRequest r) {
            str(r.requestId());
            i64(r.timestamp().getEpochSecond()).i32(r.timestamp().getNano());
            str(r.method()).str(r.target()).headers(r.headers()).bytes(r.body()).str(r.idempotencyKey());
            return this;
        }

        /** A response, or {@code null}. */
        public Writer response(StoredResponse r) {
            if (r == null) {
                return u8(0);
            }
            u8(1).i32(r.status()).headers(r.headers()).bytes(r.body());
            return this;
        }

        public int size() {
            return pos;
        }

        /** Empties the writer for reuse; its buffer stays. */
        public Writer reset() {
            pos = 0;
            return this;
        }

        /** The buffer; bytes {@code [0, size())} are what was written. Valid until the next write or reset. */
        public byte[] array() {
            return buf;
        }

        public byte[] toByteArray() {
            return Arrays.copyOf(buf, pos);
        }
    }

    /**
     * {@link Writer#request}'s bytes in an array of exactly their length, for stores that keep each
     * request as its own value: sized up front from the strings' lengths, so the buffer neither grows
     * nor is copied at the end (unless a string is not ASCII).
     */
    public static byte[] encode(JournaledRequest r) {
        int size = strSize(r.requestId()) + 12 + strSize(r.method()) + strSize(r.target()) + 4
                + 4 + r.bodyLength() + strSize(r.idempotencyKey());
        for (HttpHeader h : r.headers()) {
            size += strSize(h.name()) + strSize(h.value());
        }
        Writer w = new Writer(size).request(r);
        return w.pos == w.buf.length ? w.buf : w.toByteArray();
    }

    private static int strSize(String s) {
        return 4 + (s == null ? 0 : s.length());
    }

    /** Reads what {@link Writer} wrote. */
    public static final class Reader {
        private final ByteBuffer in;

        public Reader(byte[] bytes) {
            this.in = ByteBuffer.wrap(bytes);
        }

        public Reader(ByteBuffer in) {
            this.in = in;
        }

        public int u8() {
            return guard(() -> in.get() & 0xff);
        }

        public int i32() {
            return guard(in::getInt);
        }

        public long i64() {
            return guard(in::getLong);
        }

        public byte[] bytes() {
            int n = i32();
            if (n < 0 || n > in.remaining()) {
                throw new IllegalArgumentException("bad length " + n + " with " + in.remaining() + " bytes left");
            }
            byte[] b = new byte[n];
            in.get(b);
            return b;
        }

        public String str() {
            int n = i32();
            if (n == -1) {
                return null;
            }
            if (n < 0 || n > in.remaining()) {
                throw new IllegalArgumentException("bad string length " + n + " with " + in.remaining() + " bytes left");
            }
            byte[] b = new byte[n];
            in.get(b);
            return new String(b, StandardCharsets.UTF_8);
        }

        private String nonNull() {
            String s = str();
            if (s == null) {
                throw new IllegalArgumentException("unexpected null string");
            }
            return s;
        }

        private int count() {
            int n = i32();
            if (n < 0 || n > in.remaining()) {
                throw new IllegalArgumentException("bad count " + n);
            }
            return n;
        }

        public List<HttpHeader> headers() {
            int n = count();
            List<HttpHeader> list = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                list.add(new HttpHeader(nonNull(), nonNull()));
            }
            return list;
        }

        public Map<String, String> map() {
            int n = count();
            Map<String, String> map = new LinkedHashMap<>();
            for (int i = 0; i < n; i++) {
                map.put(nonNull(), nonNull());
            }
            return map;
        }

        public JournaledRequest request() {
            String id = nonNull();
            Instant ts = Instant.ofEpochSecond(i64(), i32());
            return new JournaledRequest(id, ts, nonNull(), nonNull(), headers(), bytes(), str());
        }

        public StoredResponse response() {
            int present = u8();
            if (present == 0) {
                return null;
            }
            int status = i32();
            try {
                return new StoredResponse(status, headers(), bytes());
            } catch (NullPointerException e) {
                throw new IllegalArgumentException("corrupt response", e);
            }
        }

        public boolean hasRemaining() {
            return in.hasRemaining();
        }

        private static <T> T guard(java.util.function.Supplier<T> s) {
            try {
                return s.get();
            } catch (BufferUnderflowException e) {
                throw new IllegalArgumentException("record truncated", e);
            }
        }
    }
}
